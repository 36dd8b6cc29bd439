"""Preference pairs sampled from the DPO stage's parent (stages/dpo.py, `dpo.pairs=onpolicy|judge`): Tülu 3 built its
preference data on-policy, from the model's own answers and those of a pool of other models.

    RLVR prompts (a seeded sample of dpo.onpolicy_prompts, `select_prompts`) -> the parent, then each checkpoint of
    dpo.onpolicy_models, samples dpo.onpolicy_samples answers each (`sample_groups`) -> the verifiers score every
    answer -> onpolicy: chosen = the best-scoring answer, rejected = the worst (`verifier_pairs`)
              judge: an LM judge (runtime/judge.py) rates or compares the answers, and decides instead; the
                     verifiers' scores are kept beside its verdicts (`judged_pairs`)
    -> prompts whose answers all score the same are ties, dropped -> the training pairs, and every pair with its
       scores and the model that wrote each answer, for the checkpoint's onpolicy_pairs.jsonl / judge_pairs.jsonl
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from data.loading import PREFERENCE_FEATURES, DataError
from rewards.process import problem_text
from runtime import generation, judge, models
from runtime.generation import Generation

ONPOLICY_PAIRS_FILE = "onpolicy_pairs.jsonl"  # published with the checkpoint: every pair, its prompt's answers scored
JUDGE_PAIRS_FILE = "judge_pairs.jsonl"  # every pair with the judge's verdicts and replies, and the verifiers' scores


# ----------------------------------------------------------------------------------------------------------------
# Sampling: the parent's answers, and the pool's beside them (Tülu 3 sampled each prompt from several models)

PARENT = "parent"  # how the published pairs name the parent among the models that sampled


@dataclass
class Groups:
    """Each prompt's answers, in the same order for every prompt: the parent's, then each pool checkpoint's.
    `sampled_by[j]` names the model that wrote answer j of every group."""

    samples: list[list[Generation]]
    sampled_by: list[str]

    def texts(self) -> list[list[str]]:
        return [[sample.text for sample in group] for group in self.samples]


def select_prompts(prompts, options, seed: int):
    """`onpolicy_prompts` of the prompts (a seeded shuffle); all of them for 0."""
    if options.onpolicy_prompts:
        prompts = prompts.shuffle(seed=seed).select(range(min(options.onpolicy_prompts, len(prompts))))
    return prompts


def sample_groups(cfg, parent, pool: dict, prompts, options, seed: int) -> Groups:
    """`onpolicy_samples` answers to each prompt from the parent (`(model, tokenizer)`, loaded), then from each
    checkpoint of the pool (`{name: path}`), loaded one at a time as an inference copy and freed after; a member of
    another model family is prompted in its own chat format."""
    samples = sample_responses(*parent, prompts, options, seed)
    sampled_by = [PARENT] * options.onpolicy_samples
    for name, path in pool.items():
        model, tokenizer = models.load_model_and_tokenizer(cfg, path, trainable=False, own_chat_template=True)
        theirs = sample_responses(model, tokenizer, prompts, options, seed, desc=f"sampling {name}'s responses")
        del model
        samples = [ours + more for ours, more in zip(samples, theirs, strict=True)]
        sampled_by += [name] * options.onpolicy_samples
    return Groups(samples, sampled_by)


def sample_responses(model, tokenizer, prompts, options, seed: int, desc: str = "sampling on-policy responses"):
    """`onpolicy_samples` responses to each prompt from one model."""
    from transformers import set_seed

    set_seed(seed)  # the same models and seed give the same pairs, so the reference log-probs cache can hit
    return generation.generate(
        model,
        tokenizer,
        prompts["prompt"],
        max_new_tokens=options.onpolicy_max_new_tokens,
        temperature=options.onpolicy_temperature,
        num_samples=options.onpolicy_samples,
        desc=desc,
    )


# ----------------------------------------------------------------------------------------------------------------
# On-policy pairs judged by the verifiers


def verifier_pairs(prompts, groups: Groups):
    """Score every answer with the verifiers and keep the best and the worst answer of each prompt with a clear
    winner as chosen/rejected.

    Returns (the training pairs, the same pairs with their verifier, ground truth, every answer to the prompt with
    its score and who wrote it, statistics)."""
    scores, texts = verifier_scores(prompts, groups.samples), groups.texts()
    pairs, stats = build_onpolicy_pairs(prompts["prompt"], texts, scores)
    stats.update(pool_shares(pairs, groups.sampled_by))
    print(f"[dpo] on-policy pairs: {stats}")
    saved = [
        {
            **pair,
            **written_by(pair, groups.sampled_by),
            "verifier": prompts[pair["prompt_index"]]["dataset"],
            "ground_truth": prompts[pair["prompt_index"]]["ground_truth"],
            "responses": texts[pair["prompt_index"]],
            "verifier_scores": scores[pair["prompt_index"]],
            "sampled_by": groups.sampled_by,
        }
        for pair in pairs
    ]
    return training_pairs(pairs, stats), saved, stats


def written_by(pair: dict, sampled_by: list[str]) -> dict:
    return {"chosen_by": sampled_by[pair["chosen_index"]], "rejected_by": sampled_by[pair["rejected_index"]]}


def pool_shares(pairs: list[dict], sampled_by: list[str]) -> dict:
    """With a pool: the share of chosen and of rejected answers that the pool's checkpoints wrote."""
    if set(sampled_by) == {PARENT}:
        return {}
    return {
        f"pool_share_{side}": sum(sampled_by[pair[f"{side}_index"]] != PARENT for pair in pairs) / len(pairs)
        if pairs
        else None
        for side in ("chosen", "rejected")
    }


def verifier_scores(prompts, samples) -> list[list[float]]:
    """Each sample's verifier score. A response cut off at max_new_tokens scores 0 (the verifiers' `truncated`
    rule): it can be rejected, never chosen -- the chat template would close it with an end-of-turn the model never
    produced."""
    from rewards import VerifierPool

    rows = [
        {"dataset": verifier, "ground_truth": truth, "response": sample.text, "truncated": not sample.finished}
        for verifier, truth, group in zip(prompts["dataset"], prompts["ground_truth"], samples, strict=True)
        for sample in group
    ]
    with VerifierPool() as pool:
        scored = pool.score_rows(rows)
    k = len(samples[0]) if samples else 0
    return [[row["score"] for row in scored[i * k : (i + 1) * k]] for i in range(len(samples))]


def training_pairs(pairs: list[dict], stats: dict):
    from datasets import Dataset

    if not pairs:
        raise DataError(
            f"no sampled pair has a clear winner and loser ({stats}); sample more responses per "
            "prompt (dpo.onpolicy_samples), raise dpo.onpolicy_temperature, or use dpo.pairs=offline"
        )
    return Dataset.from_list(
        [{key: pair[key] for key in PREFERENCE_FEATURES} for pair in pairs], features=PREFERENCE_FEATURES
    )


# ----------------------------------------------------------------------------------------------------------------
# Judged pairs: the parent's own samples, judged by an LM against a constitution (Tülu 3's preference data was rated
# by an LM judge; RLAIF). The verifiers score the same samples, so the judge's agreement with them is on record.


def judged_pairs(prompts, groups: Groups, rater: judge.Judge):
    """Let the judge decide among each prompt's answers: pairwise, every two answers of a prompt in both orders, an
    answer's score = the comparisons it won (a tie or a skipped judgement wins nothing); pointwise, its rating.
    chosen = the highest score, rejected = the lowest; a prompt whose answers all score the same is a tie, dropped.
    A response cut off at max_new_tokens scores below every other (it can be rejected, never chosen, as with the
    verifiers). The verifiers score the same answers, for the record."""
    samples = groups.samples
    truth = verifier_scores(prompts, samples)
    requests = [problem_text(turns) for turns in prompts["prompt"]]
    texts = groups.texts()
    finished = [[sample.finished for sample in group] for group in samples]
    if rater.mode == "pairwise":
        scores, judgements, counts = _pairwise_scores(rater, requests, texts)
    else:
        scores, judgements, counts = _pointwise_scores(rater, requests, texts)
    scores = [
        [score if done else -1.0 for score, done in zip(group, done_flags, strict=True)]
        for group, done_flags in zip(scores, finished, strict=True)
    ]
    pairs, stats = build_onpolicy_pairs(prompts["prompt"], texts, scores)
    told_apart = [
        (truth[p["prompt_index"]][p["chosen_index"]], truth[p["prompt_index"]][p["rejected_index"]]) for p in pairs
    ]
    agreeing = [chosen > rejected for chosen, rejected in told_apart if chosen != rejected]
    summary = {
        "judge_prompts": len(requests),
        "judge_pairs": len(pairs),
        "judge_prompt_ties": stats["onpolicy_ties"],
        **counts,
        **rater.backend.counts(),  # judgements skipped: too long for a local judge, failed requests to an endpoint
        # among kept pairs whose two responses the verifiers tell apart: the share where the judge chose the right one
        "judge_verifier_agreement": sum(agreeing) / len(agreeing) if agreeing else None,
        "judge_verifier_decided_pairs": len(agreeing),
        **pool_shares(pairs, groups.sampled_by),
    }
    print(f"[dpo] judged pairs: {summary}")
    saved = [
        {
            **pair,
            **written_by(pair, groups.sampled_by),
            "responses": texts[pair["prompt_index"]],
            "sampled_by": groups.sampled_by,
            "judge_scores": scores[pair["prompt_index"]],
            "judgements": judgements[pair["prompt_index"]],
            "verifier": prompts[pair["prompt_index"]]["dataset"],
            "ground_truth": prompts[pair["prompt_index"]]["ground_truth"],
            "verifier_scores": truth[pair["prompt_index"]],
        }
        for pair in pairs
    ]
    return training_pairs(pairs, summary), saved, summary


def _pairwise_scores(rater: judge.Judge, requests: list[str], texts: list[list[str]]):
    """Every two samples of each prompt judged in both orders; a sample's score is the comparisons it won."""
    import itertools

    # two samples with the same text carry no preference: not judged
    jobs = [
        (i, a, b)
        for i, group in enumerate(texts)
        for a, b in itertools.combinations(range(len(group)), 2)
        if group[a] != group[b]
    ]
    results = rater.compare(
        [requests[i] for i, _, _ in jobs], [texts[i][a] for i, a, _ in jobs], [texts[i][b] for i, _, b in jobs]
    )
    scores = [[0.0] * len(group) for group in texts]
    judgements = [[] for _ in texts]
    counts = Counter()
    for (i, a, b), result in zip(jobs, results, strict=True):
        winner = result.winner
        counts["judge_comparisons"] += 1
        counts["judge_skipped"] += winner is None  # a reply without a verdict
        counts["judge_ties"] += winner == "tie"
        counts["judge_position_bound"] += bool(result.position_bound)  # the same label in both orders
        if winner in (0, 1):
            scores[i][(a, b)[winner]] += 1
        judgements[i].append(
            {
                "responses": [a, b],  # shown as A then B, and as B then A
                "replies": [result.in_order.text, result.swapped.text],
                "verdicts": [result.in_order.label, result.swapped.label],
                "probabilities": [result.in_order.probabilities, result.swapped.probabilities],
                "first_preferred": result.first_preferred,
                "winner": winner,
            }
        )
    return scores, judgements, dict(counts)


def _pointwise_scores(rater: judge.Judge, requests: list[str], texts: list[list[str]]):
    """Each distinct sample of a prompt rated once (two copies of one answer get one rating, so they tie, whatever
    the batch's rounding)."""
    distinct = sorted({(i, text) for i, group in enumerate(texts) for text in group})
    ratings = dict(zip(distinct, rater.rate([requests[i] for i, _ in distinct], [t for _, t in distinct]), strict=True))
    scores = [[0.0] * len(group) for group in texts]
    judgements = [[] for _ in texts]
    for i, group in enumerate(texts):
        for j, text in enumerate(group):
            rating = ratings[(i, text)]
            # a rating the judge did not give scores below every rating (never chosen)
            scores[i][j] = rating.score if rating.score is not None else 0.0
            judgements[i].append(
                {
                    "response": j,
                    "rating": rating.score,
                    "reply": rating.reply.text,
                    "probabilities": rating.reply.probabilities,
                }
            )
    counts = {"judge_ratings": len(distinct), "judge_skipped": sum(r.score is None for r in ratings.values())}
    return scores, judgements, counts


def build_onpolicy_pairs(prompts: list, samples: list[list[str]], scores: list[list[float]]) -> tuple[list[dict], dict]:
    """Per prompt: chosen = the highest-scoring response, rejected = the lowest (first of equals, in sample order),
    with both scores and the prompt's index.

    A prompt whose responses all score the same (all right or all wrong) carries no preference: skipped and counted
    as a tie."""
    pairs, stats = [], Counter()
    all_scores = [s for group in scores for s in group]
    for index, (prompt, texts, marks) in enumerate(zip(prompts, samples, scores, strict=True)):
        if max(marks) == min(marks):
            stats["ties"] += 1
            continue
        best = max(range(len(texts)), key=lambda j: marks[j])
        worst = min(range(len(texts)), key=lambda j: marks[j])
        stats["chosen_score_sum"] += marks[best]
        stats["rejected_score_sum"] += marks[worst]
        pairs.append(
            {
                "prompt": list(prompt),
                "chosen": [{"role": "assistant", "content": texts[best]}],
                "rejected": [{"role": "assistant", "content": texts[worst]}],
                "chosen_score": marks[best],
                "rejected_score": marks[worst],
                "prompt_index": index,
                "chosen_index": best,
                "rejected_index": worst,
            }
        )
    summary = {
        "onpolicy_prompts": len(prompts),
        "onpolicy_pairs": len(pairs),
        "onpolicy_ties": stats["ties"],
        "onpolicy_sample_score": sum(all_scores) / len(all_scores) if all_scores else None,
        "onpolicy_chosen_score": stats["chosen_score_sum"] / len(pairs) if pairs else None,
        "onpolicy_rejected_score": stats["rejected_score_sum"] / len(pairs) if pairs else None,
    }
    return pairs, summary
