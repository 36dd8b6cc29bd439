"""The eval suite: generate on the core benchmark set, score with the verifier library, write the results.

    python -m eval.run [key=value ...]                     (or: make eval ARGS="...")
    make eval                                              every stage checkpoint of the run (base included)
    make eval ARGS="eval.model=path/or/hub-id"             any Hugging Face checkpoint
    make eval ARGS="eval=tulu3 OFFLINE=0 ..."              GSM8K, MATH-500, IFEval, HumanEval (conf/eval/tulu3.yaml)

config -> benchmarks -> decontamination against the run's training data -> per checkpoint: batched generation (a
benchmark offered tools, `eval.tools`: the multi-turn tool loop of runtime/generation.py) -> verifiers ->
runs/<run_name>/eval/<stage>.json (scores, n, standard errors) + <stage>.generations.jsonl (every generation with
its score: `python -m eval.score` re-scores it); with eval.sampled_pass1=k the same again for k answers a prompt
sampled at T = 1, as <stage>.sampled.json + .sampled.generations.jsonl.

Each result is also kept under runs/_cache/eval/<key>/, the key covering what it depends on (the checkpoint's content,
the eval settings, the verifiers, and the seed when answers are sampled): another run that evaluates the same
checkpoint the same way, as every seed of a seeds run does with the base model, copies it with its own
decontamination check instead of generating again.
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a command: a typo in the config fails here, before torch and TRL load
    from runtime.cli import check_command_line

    check_command_line()

import hashlib
import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Hashable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from transformers import set_seed

from eval import decontam, scorers
from eval.benchmarks import load_benchmark
from eval.report import SAMPLED
from rewards.identity import verifier_code_id
from rewards.registry import ANSWER_KEYS
from rewards.tool_call import answer_uses_a_result
from rewards.tools import resolve_tools
from runtime import cli, config, console, devices, files, layout, models, tracking
from runtime.generation import generate, generate_with_tools
from runtime.lineage import checkpoint_id


def run(cfg: DictConfig) -> dict[str, dict]:
    """Evaluate eval.model, or every stage of the run that has a complete checkpoint; returns stage -> result."""
    if cfg.eval.model:
        targets = {cfg.eval.name or _slug(cfg.eval.model): cfg.eval.model}
    else:
        targets = {}
        for stage in cfg.eval.stages:
            if stage == "base" or layout.is_complete(layout.stage_dir(cfg, stage)):
                targets[stage] = None  # resolved in evaluate()
            else:
                print(f"[eval] {stage}: no complete checkpoint in {layout.stage_dir(cfg, stage)}; not evaluated")
    benchmarks = load_benchmarks(cfg)
    results = {}
    for stage, path in targets.items():
        results[stage] = evaluate(cfg, stage, path, benchmarks)
        evaluate_sampled(cfg, stage, path, benchmarks)
    return results


def load_benchmarks(cfg: DictConfig, capped: bool = True) -> dict[str, list[dict]]:
    """Every benchmark's scoring rows; capped = at eval.max_rows (quick runs), as scored."""
    return {bench.name: load_benchmark(bench, cfg.eval.max_rows if capped else None) for bench in cfg.eval.benchmarks}


def evaluate(
    cfg: DictConfig, stage: str, path: str | Path | None = None, benchmarks: dict[str, list[dict]] | None = None
) -> dict:
    """Score one checkpoint (default: the run's checkpoint of `stage`) and write eval/<stage>.json + .jsonl.

    A result that exists for the same checkpoint and the same eval settings is reused (overwrite=true redoes it)."""
    path = path or checkpoint_path(cfg, stage)
    out = layout.run_dir(cfg) / "eval" / f"{stage}.json"
    previous = up_to_date(cfg, stage, path)
    if previous:
        print(f"[eval] {stage}: {out} is up to date for this checkpoint; skipping (overwrite=true redoes it)")
        return previous
    key = _result_key(cfg, path)
    shared = layout.shared_cache(cfg, "eval") / key
    if (shared / "result.json").exists() and not cfg.overwrite:
        return copy_shared_result(cfg, stage, path, shared, out)
    benchmarks = benchmarks if benchmarks is not None else load_benchmarks(cfg)
    start = time.time()

    # Decontamination first: a contaminated benchmark is refused before any generation (action=error); so is a
    # best-of-N scorer that cannot run (rm without a reward model).
    contamination = decontamination(cfg)
    scorer_names = list(scorers.resolve(cfg))

    tools = offered_tools(cfg)
    model, tokenizer = models.load_model_and_tokenizer(cfg, path, trainable=False, tools=any(tools.values()))
    set_seed(cfg.seed)  # sampled answers (eval.temperature > 0) are the same on every run of the same checkpoint
    generation_start = time.time()
    rows = []
    for name, bench_rows in benchmarks.items():
        bench = next(b for b in cfg.eval.benchmarks if b.name == name)
        settings = dict(
            max_new_tokens=bench.max_new_tokens or cfg.eval.max_new_tokens,
            temperature=cfg.eval.temperature,
            num_samples=cfg.eval.num_samples,
            batch_size=cfg.eval.batch_size,
            desc=f"eval {stage}/{name}",
        )
        prompts = [row["messages"] for row in bench_rows]
        if tools[name]:  # the multi-turn loop: the model's calls run, their results come back as tool turns
            max_iterations = cfg.eval.max_tool_calling_iterations
            generations = generate_with_tools(
                model, tokenizer, prompts, tools[name], max_iterations=max_iterations, **settings
            )
        else:
            generations = generate(model, tokenizer, prompts, **settings)
        for row, samples in zip(bench_rows, generations):
            for sample_index, generation in enumerate(samples):
                transcript = generation.messages or [{"role": "assistant", "content": generation.text}]
                rows.append(
                    {
                        **row,
                        "sample": sample_index,
                        # the tool_call verifier reads the whole transcript, the others the answer
                        "response": json.dumps(transcript) if row["dataset"] == "tool_call" else generation.text,
                        "finished": generation.finished,
                        "num_tokens": generation.num_tokens,
                        **(
                            {
                                "transcript": transcript,
                                "tool_calls": generation.tool_calls,
                                "tool_errors": generation.tool_errors,
                            }
                            if tools[name]
                            else {}
                        ),
                    }
                )
    generation_s = time.time() - generation_start
    ran_on = devices.describe(model)  # the device, dtype and attention the generations ran with
    del model

    rank(cfg, rows, scorer_names)
    scored, verifier_stats = score(cfg, rows)
    summaries = {name: summarise([r for r in scored if r["benchmark"] == name]) for name in benchmarks}
    result = {
        "model": str(path),
        "stage": stage,
        "benchmarks": summaries,
        "average": sum(b["score"] for b in summaries.values()) / len(summaries) if summaries else None,
        "checkpoint_id": checkpoint_id(path, cfg.model.revision),
        "key": key,
        "generation": {
            "max_new_tokens": cfg.eval.max_new_tokens,
            "temperature": cfg.eval.temperature,
            "num_samples": cfg.eval.num_samples,
        },
        "scorers": scorer_names,
        "decontamination": contamination_summary(contamination),
        "verifier": verifier_stats,
        "verifier_code_id": verifier_code_id(),  # scored by this source of rewards/ and these library versions
        "ran_on": ran_on,
        "generation_s": round(generation_s, 1),
        "wall_time_s": round(time.time() - start, 1),
    }
    files.write_jsonl(out.with_suffix(".generations.jsonl"), scored)
    files.write_json(out, result)
    with files.atomic(shared) as tmp:  # the result last, as in a checkpoint: an entry without it is never read
        files.write_jsonl(tmp / "generations.jsonl", scored)
        files.write_json(tmp / "result.json", {"evaluated_in": str(out.relative_to(cfg.runs_dir)), "result": result})
    log_to_wandb(cfg, stage, result, scored)
    print_result(result)
    return result


def copy_shared_result(cfg: DictConfig, stage: str, path: str | Path, shared: Path, out: Path) -> dict:
    """The result another run computed for the same checkpoint content and eval settings, as this run's own: the
    same generations and scores, this run's decontamination check (its training data may differ), and
    `copied_from` naming the run's result it came from (its `ran_on` and times are that run's)."""
    contamination = decontamination(cfg)
    entry = json.loads((shared / "result.json").read_text())
    rows = [json.loads(line) for line in (shared / "generations.jsonl").read_text().splitlines()]
    result = {
        **entry["result"],
        "model": str(path),
        "stage": stage,
        "decontamination": contamination_summary(contamination),
        "copied_from": entry["evaluated_in"],
    }
    files.write_jsonl(out.with_suffix(".generations.jsonl"), rows)
    files.write_json(out, result)
    print(f"[eval] {stage}: this checkpoint was evaluated the same way in {entry['evaluated_in']}; result copied")
    log_to_wandb(cfg, stage, result, rows)
    print_result(result)
    return result


def contamination_summary(contamination: dict) -> dict:
    """What a result records of the decontamination report: each benchmark's share, its limit, what was flagged."""
    return {
        "contaminated": {name: b["fraction"] for name, b in contamination.get("benchmarks", {}).items()},
        "limits": {
            name: {"max_contaminated": b["max_contaminated"], "rule": b["rule"]}
            for name, b in contamination.get("benchmarks", {}).items()
        },
        "flagged": contamination.get("flagged", []),
    }


def evaluate_sampled(
    cfg: DictConfig, stage: str, path: str | Path | None = None, benchmarks: dict[str, list[dict]] | None = None
) -> dict | None:
    """With eval.sampled_pass1 = k > 0, the checkpoint once more with k answers per prompt sampled at T = 1, written
    as eval/<stage>.sampled.json: its scores are pass@1, the share of samples right. Greedy decoding can hide a
    change in how often the policy is right when it samples, which is what RL trains; None when off."""
    if not cfg.eval.sampled_pass1:
        return None
    sampled = cfg.copy()
    sampled.eval.temperature = 1.0
    sampled.eval.num_samples = cfg.eval.sampled_pass1
    sampled.eval.scorers = []  # pass@1 only: no best-of-N ranking of the samples
    return evaluate(sampled, stage + SAMPLED, path or checkpoint_path(cfg, stage), benchmarks)


def offered_tools(cfg: DictConfig) -> dict[str, list]:
    """Benchmark name -> the tools offered on its prompts (its own `tools`, else eval.tools)."""
    return {
        bench.name: resolve_tools(bench.tools if bench.tools is not None else cfg.eval.tools)
        for bench in cfg.eval.benchmarks
    }


def checkpoint_path(cfg: DictConfig, stage: str) -> Path | str:
    return models.base_model_path(cfg) if stage == "base" else layout.stage_dir(cfg, stage)


def up_to_date(cfg: DictConfig, stage: str, path: Path | str | None = None) -> dict | None:
    """The existing result of `stage` when it was computed for this very checkpoint with these eval settings."""
    out = layout.run_dir(cfg) / "eval" / f"{stage}.json"
    if cfg.overwrite or not out.exists():
        return None
    previous = json.loads(out.read_text())
    return previous if previous.get("key") == _result_key(cfg, path or checkpoint_path(cfg, stage)) else None


def rank(cfg: DictConfig, rows: list[dict], names: list[str]) -> None:
    """Add each best-of-N scorer's score of every generation (`scorer/<name>`), from prompt and response only."""
    for name, scorer in scorers.build(cfg, names).items():
        values = scorer([row["messages"] for row in rows], [row["response"] for row in rows])
        for row, value in zip(rows, values, strict=True):
            row[f"scorer/{name}"] = value


def score(cfg: DictConfig, rows: list[dict]) -> tuple[list[dict], dict]:
    """Every generation through the verifier library (sandboxed, with a timeout per generation)."""
    from rewards import VerifierPool

    scoring = [
        {
            "dataset": r["dataset"],
            "ground_truth": r["ground_truth"],
            "response": r["response"],
            "question": r.get("question"),
        }
        for r in rows
    ]
    with VerifierPool(num_workers=cfg.eval.num_workers, timeout_s=cfg.eval.timeout_s) as pool:
        scored = pool.score_rows(scoring)
        stats = dict(pool.stats)
    merged = [{**row, **{k: v for k, v in result.items() if k not in row}} for row, result in zip(rows, scored)]
    return merged, stats


def summarise(rows: list[dict]) -> dict:
    """Score = mean over prompts of the mean over samples; the standard error is over prompts. pass_at_k: the share of
    prompts with a fully right answer (score 1: for IFEval every instruction followed) among k samples. maj_at_k:
    self-consistency, for verifiers that extract a final answer (`rewards.registry.ANSWER_KEYS`). best_of_n: per
    scorer that ranked the samples (eval/scorers.py), the verifier score of its pick among k."""
    per_prompt: dict = {}
    for row in rows:
        per_prompt.setdefault(row["id"], []).append(row)
    scores = [[float(row["score"]) for row in samples] for samples in per_prompt.values()]
    values = [sum(v) / len(v) for v in scores]
    n = len(values)
    mean = sum(values) / n if n else 0.0
    variance = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    verifier = rows[0]["dataset"] if rows else None
    summary = {
        "score": mean,
        "n": n,
        "stderr": math.sqrt(variance / n) if n else 0.0,
        "pass_at_k": pass_at_k(scores),
        "verifier": verifier,
        "unfinished": sum(not r["finished"] for r in rows) / max(len(rows), 1),  # cut off at max_new_tokens
        "errors": sum(bool(r.get("error")) for r in rows),
    }
    if isinstance(verifier, str) and verifier in ANSWER_KEYS:
        answer_key = ANSWER_KEYS[verifier]
        votes = [
            [(answer_key(row["response"]), float(row["score"])) for row in samples] for samples in per_prompt.values()
        ]
        summary["maj_at_k"] = majority_at_k(votes)
    if rows and "tool_calls" in rows[0]:
        summary["tools"] = tool_use(rows)
    ranked = sorted({key.removeprefix("scorer/") for key in rows[0] if key.startswith("scorer/")}) if rows else []
    if ranked:
        summary["best_of_n"] = {
            name: best_of_n(
                [[(row[f"scorer/{name}"], float(row["score"])) for row in samples] for samples in per_prompt.values()]
            )
            for name in ranked
        }
    return summary


def tool_use(rows: list[dict]) -> dict[str, float]:
    """How a benchmark's answers used the tools: the share of answers that called one, failed calls per call, calls
    per answer, and the share of answers that state a result a call returned (the tool's result was used)."""
    calls = sum(row["tool_calls"] for row in rows)
    used = sum(answer_uses_a_result(row["transcript"]) for row in rows)
    n = max(len(rows), 1)
    return {
        "call_rate": sum(row["tool_calls"] > 0 for row in rows) / n,
        "error_rate": sum(row["tool_errors"] for row in rows) / calls if calls else 0.0,
        "calls_per_answer": calls / n,
        "used_result_share": used / n,
    }


def at_each_k(samples_per_prompt: list[list], pick: Callable[[list], float]) -> dict[str, float]:
    """For k = 1, 2, 4, ... and the number of samples: the mean over prompts of `pick(the prompt's first k samples)`,
    the score of the one sample a rule keeps."""
    if not samples_per_prompt:
        return {}
    samples = min(len(s) for s in samples_per_prompt)
    ks = sorted({2**i for i in range(samples.bit_length())} | {samples})
    return {str(k): sum(pick(s[:k]) for s in samples_per_prompt) / len(samples_per_prompt) for k in ks}


def majority_at_k(samples_per_prompt: list[list[tuple[Hashable | None, float]]]) -> dict[str, float]:
    """maj@k (self-consistency, Wang et al. 2023, arXiv:2203.11171): per prompt, the final answer most frequent among
    its first k samples wins and scores what its first sample scored. Samples (answer key, score) without an answer do
    not vote; a prompt none of whose samples answers scores 0; a tie goes to the answer given first. The ground truth
    plays no part in the vote."""
    return at_each_k(samples_per_prompt, _majority_vote)


def _majority_vote(votes: list[tuple[Hashable | None, float]]) -> float:
    counts, first = Counter(), {}
    for index, (answer, score) in enumerate(votes):
        if answer is not None:
            counts[answer] += 1
            first.setdefault(answer, (index, score))
    if not counts:
        return 0.0
    winner = max(counts, key=lambda answer: (counts[answer], -first[answer][0]))
    return first[winner][1]


def best_of_n(samples_per_prompt: list[list[tuple[float, float]]]) -> dict[str, float]:
    """best-of-k: per prompt, the sample a scorer ranks highest among the first k (the first of equals) scores what
    the verifier gave it. Each sample is (scorer score, verifier score): the choice reads only the first."""
    return at_each_k(samples_per_prompt, _best_ranked)


def _best_ranked(ranked: list[tuple[float, float]]) -> float:
    best = max(range(len(ranked)), key=lambda index: (ranked[index][0], -index))
    return ranked[best][1]


def pass_at_k(scores_per_prompt: list[list[float]]) -> dict[str, float]:
    """pass@k for k in 1, 10, 100 and the number of samples (those <= it), averaged over prompts, with the unbiased
    estimator of Chen et al. 2021 (arXiv:2107.03374, eq. 1): 1 - C(n-c, k) / C(n, k) for n samples of which c pass.
    That is what Tülu 3 reports for HumanEval (pass@10, eval.temperature=0.8 eval.num_samples=10)."""
    if not scores_per_prompt:
        return {}
    samples = min(len(s) for s in scores_per_prompt)
    ks = sorted({k for k in (1, 10, 100) if k <= samples} | {samples})
    passed = [(len(s), sum(score >= 1.0 for score in s)) for s in scores_per_prompt]
    return {str(k): sum(1 - math.comb(n - c, k) / math.comb(n, k) for n, c in passed) / len(passed) for k in ks}


def decontamination(cfg: DictConfig) -> dict:
    """The overlap report (eval/decontamination.json), computed once per training data + benchmark set: its key
    covers the data sources and their files' content, so a file edited in place is checked again. The report is
    also kept under runs/_cache/decontamination/<key>.json for every run on the same data (each seed of a seeds run).

    It covers each benchmark whole (eval.max_rows aside): contamination is a property of the benchmark and the
    training data, and a share measured on a handful of rows would be noise against a per-benchmark limit."""
    from data.loading import content_digests

    settings = cfg.eval.decontamination
    benchmarks = load_benchmarks(cfg, capped=False)
    path = layout.run_dir(cfg) / "eval" / "decontamination.json"
    key = _hash(
        {
            "data": OmegaConf.to_container(cfg.data, resolve=True),
            "content": {kind: content_digests(cfg.data[kind]) for kind in decontam.TRAINING_KINDS if cfg.data[kind]},
            "settings": OmegaConf.to_container(settings),
            "benchmarks": {name: [r["question"] for r in rows] for name, rows in benchmarks.items()},
        }
    )
    shared = layout.shared_cache(cfg, "decontamination") / f"{key}.json"
    for kept in (path, shared):
        report = json.loads(kept.read_text()) if kept.exists() else {}
        if report.get("key") == key:
            if kept == shared:
                files.write_json(path, report)
            if report.get("flagged") and settings.action == "error":
                raise SystemExit("CONTAMINATION: " + "; ".join(report["flagged"]) + f" (see {path})")
            return report
    try:
        report = {**decontam.check(cfg, benchmarks, settings), "key": key}
    except decontam.ContaminationError as error:
        for kept in (shared, path):
            files.write_json(kept, {**error.report, "key": key})
        raise SystemExit(f"{error} (see {path})") from error
    for kept in (shared, path):
        files.write_json(kept, report)
    summary = ", ".join(f"{name} {b['contaminated']}/{b['n']}" for name, b in report.get("benchmarks", {}).items())
    print(f"[eval] decontamination ({settings.ngram}-grams, {report.get('seconds')}s): contaminated prompts {summary}")
    return report


def _result_key(cfg: DictConfig, path) -> str:
    """What a result depends on: the checkpoint's content (lineage.checkpoint_id), the eval settings, the verifiers
    that score it (rewards/identity.py) and, for sampled answers, the seed they are drawn with."""
    settings = OmegaConf.to_container(cfg.eval, resolve=True)
    for key in ("model", "name", "stages", "num_workers", "scorers", "reward_model", "sampled_pass1"):
        settings.pop(key)
    return _hash(
        {
            "checkpoint": checkpoint_id(path, cfg.model.revision),
            "eval": settings,
            "scorers": scorers.resolve(cfg),
            "verifiers": verifier_code_id(),
            **({"seed": cfg.seed} if cfg.eval.temperature > 0 else {}),
        }
    )


def _hash(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _slug(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(model).rstrip("/")).strip("_.")[-80:]


def log_to_wandb(cfg: DictConfig, stage: str, result: dict, rows: list[dict]) -> None:
    """One W&B run per eval (job_type eval-<stage>): the scores as summary metrics and, per benchmark, a table of
    the generations (prompt, response, ground truth, score) to read beside them."""
    if cfg.logging.backend != "wandb":
        return
    import wandb

    checkpoint = {"path": result["model"], "id": result["checkpoint_id"]}
    tracking.init_tracking(cfg, f"eval-{stage}", {**config.shared_config(cfg), "checkpoint": checkpoint})
    if wandb.run is not None:
        for name in result["benchmarks"]:
            table = wandb.Table(columns=["id", "sample", "prompt", "response", "ground_truth", "score"])
            for row in rows:
                if row["benchmark"] == name:
                    table.add_data(
                        str(row["id"]),
                        row["sample"],
                        row["messages"][-1]["content"],
                        json.dumps(row["transcript"]) if "transcript" in row else row["response"],
                        json.dumps(row["ground_truth"], default=str)
                        if not isinstance(row["ground_truth"], str)
                        else row["ground_truth"],
                        float(row["score"]),
                    )
            wandb.log({f"eval/{name}/generations": table})
    summary = {f"eval/{name}": b["score"] for name, b in result["benchmarks"].items()}
    summary.update({f"eval/{name}/stderr": b["stderr"] for name, b in result["benchmarks"].items()})
    for name, b in result["benchmarks"].items():
        summary.update({f"eval/{name}/pass@{k}": v for k, v in b["pass_at_k"].items()})
        summary.update({f"eval/{name}/maj@{k}": v for k, v in (b.get("maj_at_k") or {}).items()})
        for scorer, curve in (b.get("best_of_n") or {}).items():
            summary.update({f"eval/{name}/best@{k}_{scorer}": v for k, v in curve.items()})
        summary.update({f"eval/{name}/tools/{key}": v for key, v in (b.get("tools") or {}).items()})
    tracking.finish_tracking(cfg, {**summary, "eval/average": result["average"]})


def print_result(result: dict) -> None:
    def at_most_k(b: dict) -> str:  # with several samples: each measure at the largest k
        measures = {"pass": b["pass_at_k"], "maj": b.get("maj_at_k") or {}}
        measures.update({f"best[{scorer}]": curve for scorer, curve in (b.get("best_of_n") or {}).items()})
        return "".join(
            f"   {label}@{max(v, key=int)} {v[max(v, key=int)]:.3f}" for label, v in measures.items() if len(v) > 1
        )

    def tool_use_line(b: dict) -> str:
        tools = b.get("tools")
        return (
            f"   tool calls {tools['call_rate']:.0%} of answers, {tools['calls_per_answer']:.2f}/answer, "
            f"{tools['error_rate']:.0%} failed, result used {tools['used_result_share']:.0%}"
            if tools
            else ""
        )

    rows = {
        f"{name} (n={b['n']})": f"{b['score']:.3f} ± {b['stderr']:.3f}" + at_most_k(b) + tool_use_line(b)
        for name, b in result["benchmarks"].items()
    }
    console.print_summary(
        f"eval {result['stage']}: {result['model']}",
        {**rows, "average": result["average"], "wall time (s)": result["wall_time_s"]},
    )


main = cli.stage_main(run)

if __name__ == "__main__":
    main()
