"""The RLVR stage: the verifiable reward (scaling, non-stop penalty, routing per row, failure isolation), the
reward-hacking watch, the configs, and a few GRPO steps from the shared tiny SFT checkpoint."""

from __future__ import annotations

import json
import math
import time
from fractions import Fraction
from types import SimpleNamespace

import pytest
from helpers import QUICK_RLVR, assert_within, compose
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rewards import answer_stated, gsm8k
from rewards.process import process_score
from stages.rl.hacking import RewardHackingWatch
from stages.rl.reward import VerifiableReward

EOS = 1  # the token id our hand-made completions end with
IFEVAL_TRUTH = json.dumps(
    {"instruction_id_list": ["change_case:english_lowercase", "punctuation:no_comma"], "kwargs": [{}, {}]}
)


@pytest.fixture(scope="module")
def pool():
    from rewards import VerifierPool

    with VerifierPool(num_workers=1, timeout_s=3.0) as verifier_pool:
        yield verifier_pool


def call(reward: VerifiableReward, rows: list[tuple[str, str, str, bool]], problem: str = "q"):
    """rows: (verifier, ground_truth, response, finished), each an answer to `problem` -> (rewards, logged metrics,
    logged table columns)."""
    metrics, extra = {}, {}
    rewards = reward(
        prompts=[[{"role": "user", "content": problem}]] * len(rows),
        completions=[[{"role": "assistant", "content": text}] for _, _, text, _ in rows],
        completion_ids=[[5, 6, EOS] if finished else [5, 6, 7] for *_, finished in rows],
        dataset=[name for name, *_ in rows],
        ground_truth=[truth for _, truth, *_ in rows],
        trainer_state=None,
        log_metric=metrics.__setitem__,
        log_extra=extra.__setitem__,
    )
    return rewards, metrics, extra


def test_reward_is_verifier_score_times_ten_with_nonstop_penalty(pool):
    reward = VerifiableReward(
        pool, verification_reward=10.0, nonstop_penalty=-10.0, format_reward=0.0, eos_token_ids={EOS}
    )
    rewards, metrics, extra = call(
        reward,
        [
            ("gsm8k", "4", "3 + 1 = 4. The answer is 4.", True),
            ("gsm8k", "4", "3 + 2 = 5. The answer is 5.", True),
            ("math", "\\frac{1}{2}", "The final answer is $\\boxed{\\frac{2}{4}}$.", True),
            ("ifeval", IFEVAL_TRUTH, "hello, world", True),  # lowercase kept, comma used: half the instructions
            ("gsm8k", "4", "The answer is 4 and then it goes on and on", False),  # right, but cut off: penalty
        ],
    )
    assert rewards == pytest.approx([10.0, 0.0, 10.0, 5.0, -10.0])
    assert metrics["verifier/gsm8k/reward_mean"] == pytest.approx(0.0)  # (10 + 0 - 10) / 3
    assert metrics["verifier/gsm8k/score"] == pytest.approx(1 / 3)  # the cut-off one is not verified at all
    assert metrics["verifier/math/reward_mean"] == pytest.approx(10.0)
    assert metrics["verifier/ifeval/reward_std"] == pytest.approx(0.0)
    assert metrics["hacking/truncated_share"] == pytest.approx(1 / 5)
    assert metrics["hacking/format_only_share"] == pytest.approx(1 / 5)  # "The answer is 5."
    assert metrics["time/reward_s"] > 0
    assert extra["finished"] == [True, True, True, True, False]
    assert reward.errors == reward.timeouts == 0


def test_the_rl_reward_hands_each_prompt_to_the_ifeval_reward_so_an_echo_of_it_earns_nothing(pool):
    """Class 19 (docs/rewards.md): the prompt holds the keywords its instruction asks for; echoed, it meets them."""
    reward = VerifiableReward(
        pool, verification_reward=1.0, nonstop_penalty=None, format_reward=0.0, eos_token_ids={EOS}
    )
    prompt = "Write one sentence about the moon. Include the keywords silver and night."
    truth = json.dumps({"instruction_id_list": ["keywords:existence"], "kwargs": [{"keywords": ["silver", "night"]}]})
    responses = [prompt, "The silver moon lit the night sky."]
    rewards = reward(
        prompts=[[{"role": "user", "content": prompt}]] * 2,
        completions=[[{"role": "assistant", "content": text}] for text in responses],
        completion_ids=[[5, 6, EOS]] * 2,
        dataset=["ifeval"] * 2,
        ground_truth=[truth] * 2,
        trainer_state=None,
    )
    assert rewards == [0.0, 1.0]


def test_format_reward_and_penalty_off(pool):
    reward = VerifiableReward(
        pool, verification_reward=1.0, nonstop_penalty=None, format_reward=0.2, eos_token_ids={EOS}
    )
    rewards, _, _ = call(
        reward,
        [
            ("gsm8k", "4", "The answer is 5.", True),  # well formed, wrong: the format reward only
            ("gsm8k", "4", "4", False),  # no penalty configured: a cut-off answer is verified like any other
            ("math", "2", "The final answer is 2.", True),  # right but not boxed: no format reward
        ],
    )
    assert rewards == pytest.approx([0.2, 1.0, 1.0])


def test_the_format_reward_reads_each_verifiers_own_answer_format():
    assert answer_stated("gsm8k", "so 3 * 7 = 21. The answer is 21.")
    assert answer_stated("gsm8k", "#### 21") and answer_stated("gsm8k", "\\boxed{21}")
    assert answer_stated("math", "The final answer is $\\boxed{x^2+1}$.")
    assert not answer_stated("math", "The final answer is $\\boxed{x^2")
    assert not answer_stated("gsm8k", "I do not know") and not answer_stated("gsm8k", "3 * 7 = 21.")
    assert not answer_stated("ifeval", "anything")
    # the same definition the verifier reads: a stated answer is what gsm8k scores, before any last-number fallback
    assert gsm8k.stated_answer("3 + 4 = 7. The answer is 8, not 7.") == gsm8k.extract_number("... The answer is 8") == 8


@pytest.mark.timing
def test_hanging_or_crashing_verifier_scores_zero_and_is_counted(pool):
    reward = VerifiableReward(
        pool, verification_reward=10.0, nonstop_penalty=-10.0, format_reward=0.0, eos_token_ids={EOS}
    )
    hang = json.dumps({"tests": ["assert f()"], "timeout_s": 30})  # the sandbox would wait longer than the pool
    start = time.monotonic()
    rewards, metrics, _ = call(
        reward,
        [
            ("code", hang, "```python\nwhile True:\n    pass\n```", True),
            ("gsm8k", "not a number", "The answer is 4.", True),  # the verifier raises on this ground truth
            ("gsm8k", "4", "The answer is 4.", True),  # the rest of the batch is scored as usual
        ],
    )
    assert_within(time.monotonic() - start, 20)  # the pool's 3 s, not the sandbox's 30 s
    assert rewards == pytest.approx([0.0, 0.0, 10.0])
    assert (reward.timeouts, reward.errors) == (1, 1)
    assert (metrics["verifier/timeouts_total"], metrics["verifier/errors_total"]) == (1, 1)


def test_a_failing_pool_scores_the_batch_zero():
    class BrokenPool:
        def score_rows(self, rows):
            raise RuntimeError("verifier processes gone")

    reward = VerifiableReward(
        BrokenPool(), verification_reward=10.0, nonstop_penalty=-10.0, format_reward=0.0, eos_token_ids={EOS}
    )
    rewards, _, _ = call(reward, [("gsm8k", "4", "The answer is 4.", True), ("gsm8k", "4", "4", False)])
    assert rewards == [0.0, -10.0]
    assert reward.errors == 2


def test_reward_hacking_watch_warns_when_reward_rises_and_heldout_falls():
    scores = iter([0.50, 0.55, 0.30])
    recorded = []
    watch = RewardHackingWatch(lambda: next(scores), every_steps=10, record=lambda k, v: recorded.append((k, v)))
    state = SimpleNamespace(global_step=0, max_steps=30, log_history=[])
    watch.on_train_begin(None, state, None)
    state.global_step, state.log_history = 10, [{"reward": 1.0}, {"reward": 2.0}]
    watch.on_log(None, state, None)  # reward up, held-out up: fine
    assert watch.warnings == []
    state.global_step, state.log_history = 20, state.log_history + [{"reward": 4.0}]
    watch.on_log(None, state, None)  # reward up, held-out down: warn
    assert len(watch.warnings) == 1 and "step 20" in watch.warnings[0]
    assert [h["heldout"] for h in watch.history] == [0.50, 0.55, 0.30]
    assert recorded == [("heldout/score", 0.50), ("heldout/score", 0.55), ("heldout/score", 0.30)]


@pytest.mark.parametrize(
    "group, trainer_class", [("grpo", "GRPOConfig"), ("rloo", "RLOOConfig"), ("tulu3_8b", "GRPOConfig")]
)
def test_rlvr_configs_validate(group, trainer_class):
    from runtime.config import split_section, trainer_config_class, validate

    cfg = compose([f"rlvr={group}"])
    validate(cfg)
    options, kwargs = split_section("rlvr", cfg.rlvr)
    assert trainer_config_class("rlvr", options).__name__ == trainer_class
    assert options.verification_reward == 10.0


def test_tiny_grpo_run_from_sft(sft_run):
    """A few GRPO steps from the shared tiny SFT checkpoint: rewards computed and logged, time split measured,
    checkpoint + manifest written, and the checkpoint reloads and generates."""
    from runtime import generation, layout, models
    from stages import rlvr

    cfg = compose(
        [
            f"runs_dir={sft_run.runs_dir}",
            "run_name=shared",
            *QUICK_RLVR,
            "rlvr.parent=sft",
            "data.rlvr.0.max_rows=64",
            "rlvr.heldout_eval_steps=2",
            "rlvr.heldout_eval_rows=4",
        ]
    )
    rlvr.run(cfg)

    checkpoint = layout.stage_dir(cfg, "rlvr")
    manifest = layout.read_manifest(checkpoint)
    assert manifest["status"] == "complete" and manifest["stage"] == "rlvr"
    assert manifest["parent"] == str(layout.stage_dir(cfg, "sft"))
    assert manifest["data"]["rows"] == 64
    metrics = manifest["metrics"]
    assert metrics["global_step"] == 2
    for key in ("first_logged_reward", "last_logged_reward", "mean_generation_s", "mean_reward_s", "mean_update_s"):
        assert math.isfinite(metrics[key]), key
    assert -10.0 <= metrics["first_logged_reward"] <= 10.0
    assert metrics["mean_generation_s"] > 0 and metrics["mean_update_s"] > 0
    assert any(key.startswith("verifier/") and key.endswith("/reward_mean") for key in metrics)
    assert [h["step"] for h in metrics["heldout"]] == [0, 2]

    model, tokenizer = models.load_model_and_tokenizer(cfg, checkpoint, trainable=False)
    [[generation]] = generation.generate(
        model, tokenizer, [[{"role": "user", "content": "What is 2 + 3?"}]], max_new_tokens=8
    )
    assert isinstance(generation.text, str) and generation.num_tokens > 0


def process_rewarded(pool) -> VerifiableReward:
    return VerifiableReward(
        pool,
        verification_reward=10.0,
        nonstop_penalty=-10.0,
        format_reward=0.0,
        eos_token_ids={EOS},
        process_reward=2.0,
    )


def test_the_process_reward_pays_for_worked_steps_of_right_answers_only(pool):
    texts = [
        "10 - 9 = 1. 1 + 8 = 9. The answer is 9.",  # right and worked: outcome + process
        "The answer is 9.",  # right, bare: outcome only
        "10 - 9 = 1. 1 + 1 = 2. 1 + 8 = 9. 9 * 1 = 9. The answer is 9.",  # right, padded: half the steps pay
        "10 + 9 = 19. The answer is 19.",  # wrong, one true step towards its own answer: nothing
    ]
    problem = "Tom has 10 apples. He gives away 9. Then he finds 8 more. How many?"
    rewards, metrics, _ = call(process_rewarded(pool), [("gsm8k", "9", text, True) for text in texts], problem)
    assert rewards == pytest.approx([12.0, 10.0, 11.0, 0.0])
    assert metrics["process/score"] == pytest.approx((1 + 0 + 0.5 + 1) / 4)  # what the checker read, paid or not


@st.composite
def wrong_answer_after_credited_working(draw):
    """(problem, verifier, truth, response): true equations over the problem's own numbers whose last result is
    stated as the answer, and the answer is wrong. The step checker credits every step (true, grounded, new, used):
    it cannot know the arithmetic is not the problem's. Found in RL, 2026-12-07: with the step score paid whatever the
    answer, 120 GRPO steps taught the policy to add the numerators of a fraction sum ("1 + 5 = 6", then 6/7 boxed)."""
    a, c = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    b, d = draw(st.integers(2, 9)), draw(st.integers(2, 9))
    if draw(st.booleans()):  # a fraction sum, the numerators combined over one of the denominators
        op = draw(st.sampled_from(["+", "-"]))
        value = a + c if op == "+" else a - c
        denominator = draw(st.sampled_from([b, d]))
        truth = Fraction(a, b) + Fraction(c, d)
        assume(value > 1 and Fraction(value, denominator) != truth)
        problem = f"Calculate $\\frac{{{a}}}{{{b}}} + \\frac{{{c}}}{{{d}}}$."
        response = f"{a} {op} {c} = {value}. The final answer is $\\boxed{{\\frac{{{value}}}{{{denominator}}}}}$."
        return problem, "math", f"\\frac{{{truth.numerator}}}{{{truth.denominator}}}", response
    # a word problem, its numbers combined in another order or with other operations than the story's
    ops = draw(st.lists(st.sampled_from(["+", "-", "*"]), min_size=1, max_size=2))
    numbers = [a + 10, b, c]
    steps, result = [], numbers[0]
    for step_op, number in zip(ops, numbers[1:]):
        new = {"+": result + number, "-": result - number, "*": result * number}[step_op]
        steps.append(f"{result} {step_op} {number} = {new}.")
        result = new
    truth = numbers[0] - b + c
    assume(result != truth and result > 0 and 1 not in numbers[1:])
    problem = f"Tom has {numbers[0]} apples. He gives away {b}. Then he finds {c} more. How many apples now?"
    return problem, "gsm8k", str(truth), " ".join(steps) + f" The answer is {result}."


@settings(max_examples=40, deadline=None)
@given(case=wrong_answer_after_credited_working())
def test_working_that_leads_to_a_wrong_answer_earns_no_reward(pool, case):
    problem, verifier, truth, response = case
    paid_whatever_the_answer = 2.0 * process_score(problem, response)  # the reward before 2026-12-07
    assert paid_whatever_the_answer > 0, "the attack pays a step reward that ignores the answer"
    rewards, _, _ = call(process_rewarded(pool), [(verifier, truth, response, True)], problem)
    assert rewards == [0.0]


def _scoring_trainer(sft_run, attention: str, **options):
    """GRPO over the shared SFT checkpoint with `attention`, for calling its log-prob pass directly."""
    from datasets import Dataset

    from runtime import layout, models, training
    from stages import rlvr

    cfg = compose(
        [f"runs_dir={sft_run.runs_dir}", "run_name=shared", *QUICK_RLVR, f"model.attn_implementation={attention}"]
    )
    _, args = training.trainer_args(cfg, "rlvr")
    model, tokenizer = models.load_model_and_tokenizer(cfg, layout.stage_dir(cfg, "sft"), trainable=False)
    trainer = rlvr.GRPOWithTimes(
        model=model,
        reward_funcs=[lambda completions, **_: [0.0] * len(completions)],
        args=args,
        train_dataset=Dataset.from_list([{"prompt": [{"role": "user", "content": "q"}]}] * 8),
        processing_class=tokenizer,
        **options,
    )
    return trainer, model


def _log_prob_pass(trainer, model, input_ids, attention_mask, width: int, **options):
    """The trainer's log-probs and entropies of the completion tokens and two weights' gradients of their sum."""
    model.zero_grad()
    logps, entropies, _ = trainer._get_per_token_logps_and_entropies(
        model, input_ids, attention_mask, width, compute_entropy=True, **options
    )
    (logps * attention_mask[:, -width:]).sum().backward()
    return logps, entropies, model.lm_head.weight.grad.clone(), model.model.layers[0].self_attn.q_proj.weight.grad


def _assert_same_pass(packed, padded, scored) -> None:
    import torch

    assert packed[0][scored].tolist() == pytest.approx(padded[0][scored].tolist(), abs=1e-4)
    assert (packed[0][~scored] == 0).all()
    assert packed[1][scored].tolist() == pytest.approx(padded[1][scored].tolist(), abs=1e-4)
    for g_packed, g_padded in zip(packed[2:], padded[2:], strict=True):
        assert torch.allclose(g_packed, g_padded, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("attention", ["varlen_sdpa", "sdpa"])
def test_padding_free_log_probs_and_gradients_equal_trls_padded_ones(sft_run, attention):
    """Rows with left-padded prompts and completions of 1..12 tokens (one to the limit, zeros after each EOS):
    the packed pass gives TRL's padded log-probs, entropies and gradients; packing without restarting the position
    ids (the naive version) lets the attention read across sequences and does not."""
    import torch

    from stages.rl.logps import unpack

    trainer, model = _scoring_trainer(sft_run, attention, padding_free=True)
    torch.manual_seed(0)
    prompt_lengths, completion_lengths, width = [5, 9, 3, 7], [12, 1, 6, 4], 12
    rows, mask = [], []
    for p, c in zip(prompt_lengths, completion_lengths, strict=True):
        rows.append([0] * (9 - p) + torch.randint(5, 1000, (p + c,)).tolist() + [0] * (width - c))
        mask.append([0] * (9 - p) + [1] * (p + c) + [0] * (width - c))
    input_ids, attention_mask = torch.tensor(rows), torch.tensor(mask)
    scored = attention_mask[:, -width:].bool()

    trainer.padding_free = False
    padded = _log_prob_pass(trainer, model, input_ids, attention_mask, width, batch_size=3)
    trainer.padding_free = True
    _assert_same_pass(_log_prob_pass(trainer, model, input_ids, attention_mask, width, batch_size=3), padded, scored)

    keep = attention_mask.bool()
    labels = input_ids.masked_fill(~keep, -100)
    labels[:, :-width] = -100
    with torch.no_grad():  # the same packed row, positions running on across sequences
        naive = model(input_ids=input_ids[keep][None], labels=labels[keep][None], fused_lm_head=True).log_probs
    naive = unpack(naive, keep)[:, -width:]
    assert (naive[scored] - padded[0][scored].detach()).abs().max() > 1e-2


@pytest.mark.parametrize("attention", ["varlen_sdpa", "sdpa"])
def test_shared_prompt_log_probs_and_gradients_equal_trls_padded_ones(sft_run, attention):
    """Two prompts under three completions each and one prompt alone (completions of 1..12 tokens, one to the limit,
    zeros after each EOS), in one chunk: computing each prompt once gives TRL's padded log-probs, entropies and
    gradients. The same layout with every segment seeing the others (the naive block mask) does not."""
    import torch

    from stages.rl.logps import shared_prompt_layout

    trainer, model = _scoring_trainer(sft_run, attention, share_prompts=True)
    torch.manual_seed(0)
    prompts = [torch.randint(5, 1000, (p,)).tolist() for p in (5, 9, 3)]
    completion_lengths, width = [12, 1, 6, 4, 9, 2, 7], 12
    rows, mask = [], []
    for prompt, c in zip([0, 1, 0, 1, 0, 2, 1], completion_lengths, strict=True):
        p = len(prompts[prompt])
        rows.append([0] * (9 - p) + prompts[prompt] + torch.randint(5, 1000, (c,)).tolist() + [0] * (width - c))
        mask.append([0] * (9 - p) + [1] * (p + c) + [0] * (width - c))
    input_ids, attention_mask = torch.tensor(rows), torch.tensor(mask)
    scored = attention_mask[:, -width:].bool()
    shared = shared_prompt_layout(input_ids, attention_mask.bool(), width)
    assert shared.input_ids.shape[0] == 3  # one row a prompt
    # every real token sees its prompt's first one: the prompts but their last token once, each completion + 1
    assert shared.attention_mask[:, 0, :, 0].sum() == (4 + 8 + 2) + sum(completion_lengths) + 7
    assert attention_mask.sum() == (5 + 9 + 5 + 9 + 5 + 3 + 9) + sum(completion_lengths)

    trainer.share_prompts = False
    padded = _log_prob_pass(trainer, model, input_ids, attention_mask, width)
    trainer.share_prompts = True
    _assert_same_pass(_log_prob_pass(trainer, model, input_ids, attention_mask, width), padded, scored)

    seen_by_all = shared.attention_mask.clone()
    real = shared.shift_labels != -100  # positions that predict a completion token
    seen_by_all[:, 0] |= torch.ones_like(seen_by_all[0, 0]).tril() & real[:, None, :]
    with torch.no_grad():
        naive = model(
            input_ids=shared.input_ids,
            attention_mask=seen_by_all,
            position_ids=shared.position_ids,
            shift_labels=shared.shift_labels,
            fused_lm_head=True,
        ).log_probs
    assert (shared.gather(naive)[scored] - padded[0][scored].detach()).abs().max() > 1e-2


def test_share_prompts_refuses_an_attention_that_takes_no_mask(sft_run):
    with pytest.raises(ValueError, match="rlvr.share_prompts=true needs an attention that takes a .* eager"):
        _scoring_trainer(sft_run, "eager", share_prompts=True)
