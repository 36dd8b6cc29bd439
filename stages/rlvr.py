"""Reinforcement learning with verifiable rewards: the last stage of the Tülu 3 recipe, over TRL's GRPOTrainer
(or RLOOTrainer with `rlvr=rloo`).

    python -m stages.rlvr [key=value ...]        (or: make rlvr ARGS="...")

config -> parent model (the run's DPO checkpoint by default) -> RLVR prompts -> reward = verifier score x 10
(+ process_reward x the step checker's score; rlvr.reward=rm|both: the reward model's score, TRL's reward_funcs) ->
GRPOTrainer (rlvr.tools: multi-turn rollouts that call them, the results masked out of the loss; the tool_call
verifier reads the transcript) -> train -> runs/<run_name>/rlvr/ + manifest.json

Tülu 3 trained this stage with PPO and a value model; TRL 1.16 has no PPO trainer, so we use GRPO (what Tülu 3.1
moved to) or RLOO: both replace the value model with a baseline computed from several samples per prompt.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from omegaconf import DictConfig
from transformers import TrainerCallback
from trl import GRPOTrainer, RLOOTrainer

from data.loading import describe, load_rlvr
from rewards import VerifierPool, answer_stated, is_truncated, reward_verifier
from rewards.process import problem_text, process_score
from rewards.tool_call import answer_uses_a_result, final_answer, tool_calls
from rewards.tools import resolve_tools
from runtime import checkpoints, cli, console, generation, layout, models, reward_model, tracking, training
from runtime.lineage import checkpoint_id


def run(cfg: DictConfig) -> str:
    options, args = training.trainer_args(cfg, "rlvr")  # the trainer's `args`, and what the manifest records
    if options.reward != "verifier" and args.reward_weights is None:  # TRL sums [verifier, reward model] with these
        args.reward_weights = [0.0 if options.reward == "rm" else 1.0, options.rm_weight]
    # A reward model that is not there fails first, before a model loads or anything is generated. Trained against,
    # it is a second parent: a checkpoint trained against another one (by content) is not reused.
    rm_path = reward_model.resolve_reward_model(cfg, options.reward_model) if options.reward != "verifier" else None
    rm_record = {"path": str(rm_path), "id": checkpoint_id(rm_path)} if rm_path else None
    previous = layout.read_manifest(layout.stage_dir(cfg, "rlvr")) or {}
    same_rm = (previous.get("data") or {}).get("reward_model") == rm_record
    if same_rm and checkpoints.reuse_checkpoint(cfg, "rlvr", options, args, data_key="rlvr"):
        return "reused"

    # Data first: a malformed row or an unknown verifier fails here, before a model is loaded.
    dataset = load_rlvr(cfg.data.rlvr)
    parent = models.resolve_parent(cfg, options.parent)
    data = describe(cfg.data.rlvr, dataset) | ({"reward_model": rm_record} if rm_record else {})
    record = checkpoints.StageRecord(cfg, "rlvr", options, args, parent=parent, data_key="rlvr", data=data)
    tools = resolve_tools(options.tools)  # offered in the rollouts: TRL runs the calls and masks their results
    model, tokenizer = models.load_model_and_tokenizer(cfg, parent, trainable=True, tools=bool(tools))

    with VerifierPool(num_workers=options.verifier_workers, timeout_s=options.verifier_timeout_s) as pool:
        reward = VerifiableReward(
            pool,
            verification_reward=options.verification_reward,
            nonstop_penalty=options.nonstop_penalty,
            format_reward=options.format_reward,
            process_reward=options.process_reward,
            eos_token_ids=generation.eos_token_ids(model, tokenizer),  # the ids TRL stops generation at
            tools=bool(tools),
        )
        # With a reward model, TRL scores prompt + completion with it and sums the weighted rewards. The verifier
        # reward stays in the list (weight 0 with reward=rm) so that its score is logged beside the RM's.
        reward_funcs, processing_classes = [reward], [None]
        if rm_path is not None:
            rm, rm_tokenizer = reward_model.load_reward_model(cfg, rm_path, trainable=False)
            reward_funcs.append(rm)
            processing_classes.append(rm_tokenizer)
        trainer = TRAINERS[options.trainer](
            model=model,
            reward_funcs=reward_funcs,
            reward_processing_classes=processing_classes,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            padding_free=options.padding_free,
            **({"tools": tools} if tools else {}),
        )
        record.args = trainer.args
        tracking.init_tracking(cfg, "rlvr", record.tracked())
        tracking.log_metrics_only(trainer)
        watch = None
        if options.heldout_eval_steps > 0:
            evaluate = heldout_evaluator(cfg, options, trainer.model, tokenizer, pool)
            watch = RewardHackingWatch(evaluate, options.heldout_eval_steps, record=trainer.record_metric)
            trainer.add_callback(watch)
        result = training.train(trainer, cfg, record)

    log = trainer.state.log_history
    rewards = training.loss_trajectory(log, "reward")
    record.metrics.update(
        {
            "first_logged_reward": rewards[0] if rewards else None,
            "last_logged_reward": rewards[-1] if rewards else None,
            **_last_values(
                log,
                (
                    "verifier/",
                    "rewards/",  # TRL's mean/std per reward function (verifiable; rm with a reward model)
                    "process/",
                    "hacking/",
                    "tools/",
                    "completions/clipped_ratio",
                    "completions/mean_length",
                    "kl",
                    "frac_reward_zero_std",
                ),
            ),
            "verifier_errors": reward.errors,
            "verifier_timeouts": reward.timeouts,
            **_mean_times(log),
            "heldout": watch.history if watch else None,
            "reward_hacking_warnings": watch.warnings if watch else [],
            **training.training_metrics(trainer, result),
        }
    )
    checkpoint = record.publish(trainer, tokenizer)
    tracking.finish_tracking(
        cfg, {f"rlvr/{k}": v for k, v in record.metrics.items() if not isinstance(v, (list, dict))}
    )
    summary = {key: value for key, value in record.metrics.items() if not isinstance(value, (list, dict))}
    if watch:
        first, last = watch.history[0]["heldout"], watch.history[-1]["heldout"]
        summary["heldout score (first -> last)"] = f"{first:.3f} -> {last:.3f}"
    console.print_summary(
        f"RLVR ({options.trainer}) complete: {checkpoint}", {"parent": str(parent), "prompts": len(dataset), **summary}
    )
    return "trained"


def flatten_for_logging(completions) -> None:
    """Rewrite tool-using completions, once scored, as plain {role, content} messages, each call written into its
    turn's text (`<call calculator>{"expression": "7 + 5"}</call>`). TRL logs these very message lists after the
    rewards: into a W&B table, which refuses messages of different shapes (a turn with `tool_calls` beside one
    without, a tool turn's `name`), and to the console. Without this the first logging step of a tool run stopped it."""
    for completion in completions:
        for message in completion if isinstance(completion, list) else []:
            calls = message.pop("tool_calls", None) or []
            message.pop("name", None)
            text = "".join(
                f"<call {call['function'].get('name')}>{json.dumps(call['function'].get('arguments'))}</call>"
                for call in calls
                if isinstance(call, dict) and isinstance(call.get("function"), dict)
            )
            message["content"] = (message.get("content") or "") + text


def transcript(completion: list[dict]) -> list[dict]:
    """A tool-using completion as the tool_call verifier reads it: the assistant's turns (text and calls) and the
    tool messages TRL appended, nothing else."""
    keep = ("role", "content", "tool_calls")
    return [{key: message[key] for key in keep if message.get(key) is not None} for message in completion]


def tool_metrics(transcripts: list[list[dict]], texts: list[str]) -> dict[str, float]:
    """Per step: how the policy uses its tools (TRL logs tools/call_frequency and tools/failure_frequency)."""
    n = len(texts)
    called = sum(bool(tool_calls(messages)) for messages in transcripts)
    used = sum(answer_uses_a_result(messages) for messages in transcripts)  # answers the tool actually produced
    # a call TRL could not parse stays in the answer's text
    malformed = sum(any(marker in text for marker in generation.CALL_MARKERS) for text in texts)
    return {
        "tools/called_share": called / n,
        "tools/used_result_share": used / n,
        "tools/malformed_share": malformed / n,
    }


def _last_values(log_history: list[dict], prefixes: tuple[str, ...]) -> dict:
    """The last logged value of every metric whose name starts with one of the prefixes."""
    values = {}
    for entry in log_history:
        for key, value in entry.items():
            if key.startswith(prefixes) and isinstance(value, (int, float)):
                values[key] = value
    return values


def _mean_times(log_history: list[dict]) -> dict:
    """Mean seconds per step of generation / reward / update over the run, and the reward's share of the step."""
    times = {}
    for key in ("time/generation_s", "time/reward_s", "time/rollout_s", "time/update_s", "step_time"):
        values = [entry[key] for entry in log_history if entry.get(key) is not None]
        if values:
            times[f"mean_{key.replace('time/', '')}"] = statistics.fmean(values)
    if times.get("mean_step_time"):
        times["reward_share_of_step"] = times.get("mean_reward_s", 0.0) / times["mean_step_time"]
    return times


# --------------------------------------------------------------------------------------------------------------
# The reward: verifier score x verification_reward, the non-stop penalty, per-verifier statistics


class VerifiableReward:
    """A TRL reward function: `verification_reward` x the verifier's score, the verifier picked per row by its
    `dataset` column (TRL hands the dataset's other columns to reward functions as keyword arguments), plus
    `process_reward` x the step checker's score of the working (rewards/process.py: dense, ground-truth-free).

    A response cut off without end-of-sequence gets `nonstop_penalty` as its whole reward (open-instruct's
    non-stop penalty), so rambling until the length limit never pays. Verifiers run in `VerifierPool`'s worker
    processes: one that hangs or crashes costs that response a zero and a count in `errors`/`timeouts`, never the
    run. Per verifier reward statistics and reward-hacking signals go to the trainer's logs through `log_metric`."""

    __name__ = "verifiable"  # TRL names the reward columns of its logs after this

    def __init__(
        self,
        pool,
        *,
        verification_reward: float,
        nonstop_penalty: float | None,
        format_reward: float,
        eos_token_ids: set[int],
        process_reward: float = 0.0,
        tools: bool = False,
    ):
        self.pool = pool
        self.verification_reward = verification_reward
        self.nonstop_penalty = nonstop_penalty
        self.format_reward = format_reward
        self.process_reward = process_reward
        self.eos_token_ids = eos_token_ids
        self.tools = tools  # tools are offered: log how they are used
        self.errors = 0  # verifier crashes (and rows it could not read), since the start
        self.timeouts = 0  # verifiers stopped at the timeout, since the start
        self.seconds = 0.0  # time spent in the last call (the reward share of the step time)

    def __call__(
        self, prompts, completions, completion_ids, dataset, ground_truth, log_metric=None, log_extra=None, **_
    ):
        start = time.perf_counter()
        # The answer: a plain completion, or the last turn of a conversational one when it makes no call
        texts = [(final_answer(c) or "") if isinstance(c, list) else c for c in completions]
        finished = [not is_truncated(ids, self.eos_token_ids) for ids in completion_ids]
        # The tool_call verifier reads the whole transcript (which calls were made, what came back); the others
        # the final answer.
        transcripts = [
            transcript(c) if isinstance(c, list) else [{"role": "assistant", "content": c}] for c in completions
        ]
        responses = [
            json.dumps(t) if name == "tool_call" else text for t, name, text in zip(transcripts, dataset, texts)
        ]
        questions = [problem_text(p) for p in prompts]
        scores, errors, timeouts = self._verify(responses, dataset, ground_truth, finished, questions)
        well_formed = [answer_stated(name, text) for name, text in zip(dataset, texts)]
        steps = [process_score(problem_text(p), t) if self.process_reward else 0.0 for p, t in zip(prompts, texts)]

        rewards = []
        for score, formed, step_score, done in zip(scores, well_formed, steps, finished):
            if not done and self.nonstop_penalty is not None:
                rewards.append(self.nonstop_penalty)
            else:
                rewards.append(
                    self.verification_reward * score + self.format_reward * formed + self.process_reward * step_score
                )

        self.errors += errors
        self.timeouts += timeouts
        self.seconds = time.perf_counter() - start
        if log_metric is not None:
            for name, value in self.batch_metrics(dataset, rewards, scores, well_formed, finished).items():
                log_metric(name, value)
            if self.process_reward:
                log_metric("process/score", statistics.fmean(steps))
            if self.tools:
                for name, value in tool_metrics(transcripts, texts).items():
                    log_metric(name, value)
        if self.tools:
            flatten_for_logging(completions)
        if log_extra is not None:  # extra columns of the completions table (W&B, and parquet under work/rlvr/)
            log_extra("verifier", list(dataset))
            log_extra("verifier_score", scores)
            log_extra("finished", finished)
        return rewards

    def _verify(self, texts, datasets, ground_truths, finished, questions) -> tuple[list[float], int, int]:
        # A truncated response that will get the penalty anyway is not verified (the pool scores it 0 at once).
        skip = self.nonstop_penalty is not None
        rows = [
            {
                "dataset": reward_verifier(d),
                "ground_truth": g,
                "response": t,
                "truncated": skip and not done,
                "question": q,
            }
            for d, g, t, done, q in zip(datasets, ground_truths, texts, finished, questions)
        ]
        try:
            scored = self.pool.score_rows(rows)
        except Exception as error:  # the pool itself failed: this batch scores 0, the run goes on
            print(f"[rlvr] warning: verifier pool failed on a batch ({error!r}); scoring it 0", file=sys.stderr)
            return [0.0] * len(rows), len(rows), 0
        timeouts = sum(bool(row.get("timed_out")) for row in scored)
        errors = sum(bool(row.get("error")) and not row.get("timed_out") for row in scored)
        scores = [_finite(row.get("score")) for row in scored]
        return scores, errors, timeouts

    def batch_metrics(self, datasets, rewards, scores, well_formed, finished) -> dict[str, float]:
        by_verifier = defaultdict(list)
        for name, reward, score in zip(datasets, rewards, scores):
            by_verifier[name].append((reward, score))
        metrics = {}
        for name, pairs in sorted(by_verifier.items()):
            verifier_rewards = [reward for reward, _ in pairs]
            metrics[f"verifier/{name}/reward_mean"] = statistics.fmean(verifier_rewards)
            metrics[f"verifier/{name}/reward_std"] = statistics.pstdev(verifier_rewards)
            metrics[f"verifier/{name}/score"] = statistics.fmean(score for _, score in pairs)
        n = len(rewards)
        metrics["verifier/errors_total"] = self.errors
        metrics["verifier/timeouts_total"] = self.timeouts
        # Reward hacking shows up as responses that run to the length limit, or that get the format right (and any
        # format reward) without the answer.
        metrics["hacking/truncated_share"] = sum(not done for done in finished) / n
        metrics["hacking/format_only_share"] = (
            sum(
                formed and score == 0 and (done or self.nonstop_penalty is None)
                for formed, score, done in zip(well_formed, scores, finished)
            )
            / n
        )
        metrics["time/reward_s"] = self.seconds
        return metrics


def _finite(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) else 0.0


# --------------------------------------------------------------------------------------------------------------
# Where a step's time goes: generation / reward / update, logged as time/* with TRL's own metrics


class StepTimes:
    """Mixin for TRL's GRPO/RLOO trainers: times the generation and the whole rollout (generation, reward, log-probs
    of the reference and old policy) inside each training step; the rest of the step is the update (forward +
    backward). The reward function times itself (`time/reward_s`). Logged per optimizer step, like TRL's
    `step_time`; the optimizer's own step is outside both (it is small next to generation)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._timings = defaultdict(float)  # seconds per phase in the current optimizer step

    def _generate(self, prompts):
        start = time.perf_counter()
        output = super()._generate(prompts)
        self._timings["generation"] += time.perf_counter() - start
        return output

    def _generate_and_score_completions(self, inputs):
        start = time.perf_counter()
        output = super()._generate_and_score_completions(inputs)
        self._timings["rollout"] += time.perf_counter() - start
        return output

    def training_step(self, model, inputs, num_items_in_batch):
        start = time.perf_counter()
        loss = super().training_step(model, inputs, num_items_in_batch)
        self._timings["step"] += time.perf_counter() - start
        if self._step % self.current_gradient_accumulation_steps == 0:
            t = self._timings
            self.record_metric("time/generation_s", t["generation"])
            self.record_metric("time/rollout_s", t["rollout"])  # generation + reward + log-probs for the loss
            self.record_metric("time/update_s", t["step"] - t["rollout"])
            t.clear()
        return loss

    def record_metric(self, name: str, value: float) -> None:
        """Averaged into the next logged row (console, W&B, trainer_state.json) with TRL's metrics."""
        self._metrics["train"][name].append(value)


# --------------------------------------------------------------------------------------------------------------
# Padding-free log-probs: the policy's and the reference's passes over prompt + completion, without the padding
#
# TRL scores a batch of completions as one padded tensor: prompts padded on the left to the longest, completions on
# the right to the longest -- one rambling completion pads all 32 to max_completion_length (the default's batches
# are 55% padding). With `rlvr.padding_free`, each chunk's real tokens sit back to back in one row, position ids
# restarting at 0 per sequence (the attention keeps them apart: varlen_sdpa, flash_attention_2, or sdpa's block
# mask), and the log-probs and entropies are put back where TRL's padded layout has them; the padded positions get
# 0, as TRL's masked ones do. A sequence's first token is a prompt token, never scored, so no log-prob reads across
# a boundary.


class PaddingFreeLogps:
    """Mixin for TRL's GRPO/RLOO trainers (before them in the bases): `padding_free=True` packs the rows of each
    log-prob pass. Multimodal inputs and MoE auxiliary losses go to TRL's padded pass."""

    def __init__(self, *args, padding_free: bool = False, **kwargs):
        self.padding_free = padding_free
        super().__init__(*args, **kwargs)

    def _get_per_token_logps_and_entropies(
        self,
        model,
        input_ids,
        attention_mask,
        logits_to_keep,
        batch_size=None,
        compute_entropy=False,
        compute_aux_loss=False,
        **multimodal,
    ):
        if not self.padding_free or compute_aux_loss or any(value is not None for value in multimodal.values()):
            return super()._get_per_token_logps_and_entropies(
                model,
                input_ids,
                attention_mask,
                logits_to_keep,
                batch_size=batch_size,
                compute_entropy=compute_entropy,
                compute_aux_loss=compute_aux_loss,
                **multimodal,
            )
        batch_size = batch_size or input_ids.size(0)
        all_logps, all_entropies = [], []
        for start in range(0, input_ids.size(0), batch_size):
            ids, keep = input_ids[start : start + batch_size], attention_mask[start : start + batch_size].bool()
            labels = ids.masked_fill(~keep, -100)
            labels[:, :-logits_to_keep] = -100  # only the completion tokens are scored, as in TRL
            position_ids = (keep.cumsum(dim=1) - 1)[keep][None]  # 0, 1, ... within each row's real tokens
            with self.accelerator.autocast():
                outputs = model(
                    input_ids=ids[keep][None], position_ids=position_ids, labels=labels[keep][None], fused_lm_head=True
                )
            all_logps.append(unpack(outputs.log_probs, keep)[:, -logits_to_keep:])
            if compute_entropy:
                all_entropies.append(unpack(outputs.entropy, keep)[:, -logits_to_keep:])
        entropies = torch.cat(all_entropies) if compute_entropy else None
        return torch.cat(all_logps), entropies, None


def unpack(packed, keep):
    """[1, tokens - 1] per-token values of a packed row (each the prediction of the next token) -> TRL's padded
    [batch, length - 1] layout, in which [i, j] is the value for token j + 1 of row i; 0 where there is no token."""
    per_token = torch.cat([packed.new_zeros(1), packed[0]])  # the row's first token is nobody's prediction
    padded = per_token.new_zeros(keep.shape)
    padded[keep] = per_token
    return padded[:, 1:]


class GRPOWithTimes(StepTimes, PaddingFreeLogps, GRPOTrainer):
    pass


class RLOOWithTimes(StepTimes, PaddingFreeLogps, RLOOTrainer):
    pass


TRAINERS = {"grpo": GRPOWithTimes, "rloo": RLOOWithTimes}

# --------------------------------------------------------------------------------------------------------------
# Reward hacking watch: training reward up while held-out accuracy goes down


class RewardHackingWatch(TrainerCallback):
    """Every `every_steps` steps (checked when the trainer logs, and once before the first step), call
    `evaluate() -> float` (a held-out score, higher is better) and warn when the training reward rose since the
    previous check while the held-out score fell: the policy is learning to please the verifier, not to solve the
    task. The history goes into the manifest."""

    def __init__(
        self, evaluate: Callable[[], float], every_steps: int, record: Callable[[str, float], None] | None = None
    ):
        self.evaluate = evaluate
        self.every_steps = every_steps
        self.record = record  # where the held-out score is logged (the trainer's metrics)
        self.history: list[dict] = []  # {"step", "reward" (last logged; None before training), "heldout"}
        self.warnings: list[str] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.check(state)

    def on_log(self, args, state, control, **kwargs):
        # After the trainer logged this step's reward, so the check pairs the held-out score with the current reward.
        due = state.global_step - self.history[-1]["step"] >= self.every_steps if self.history else True
        if due or state.global_step == state.max_steps:
            self.check(state)

    def check(self, state) -> str | None:
        if self.history and self.history[-1]["step"] == state.global_step:
            return None
        rewards = [entry["reward"] for entry in state.log_history if "reward" in entry]
        score = self.evaluate()
        if self.record is not None:
            self.record("heldout/score", score)
        self.history.append({"step": state.global_step, "reward": rewards[-1] if rewards else None, "heldout": score})
        if len(self.history) < 2 or not rewards:
            return None
        before, now = self.history[-2:]
        reward_before = before["reward"] if before["reward"] is not None else rewards[0]  # the starting policy's
        if now["reward"] > reward_before and now["heldout"] < before["heldout"]:
            message = (
                f"[rlvr] WARNING possible reward hacking at step {now['step']}: training reward "
                f"{reward_before:.3g} -> {now['reward']:.3g} while the held-out score fell "
                f"{before['heldout']:.3f} -> {now['heldout']:.3f}"
            )
            print(message, file=sys.stderr)
            self.warnings.append(message)
            return message
        return None


def heldout_evaluator(cfg: DictConfig, options, model, tokenizer, pool) -> Callable[[], float]:
    """evaluate() -> the eval suite's score (mean over benchmarks of the mean verifier score of greedy answers) on
    the first `heldout_eval_rows` prompts of each benchmark named in `rlvr.heldout_benchmarks` (all when empty): the
    same prompts, templates and verifiers as `make eval`, on fewer rows."""
    from eval.benchmarks import load_benchmark

    wanted = list(options.heldout_benchmarks)  # names of eval.benchmarks (checked by config.validate)
    benchmarks = [bench for bench in cfg.eval.benchmarks if not wanted or bench.name in wanted]
    held_out = [(bench, load_benchmark(bench, options.heldout_eval_rows)) for bench in benchmarks]

    def evaluate() -> float:
        scores = []
        for bench, rows in held_out:
            generations = generation.generate(
                model,
                tokenizer,
                [row["messages"] for row in rows],
                max_new_tokens=bench.max_new_tokens or cfg.eval.max_new_tokens,
                desc=f"held-out {bench.name}",
            )
            scored = pool.score_rows(
                [
                    {"dataset": row["dataset"], "ground_truth": row["ground_truth"], "response": samples[0].text}
                    for row, samples in zip(rows, generations)
                ]
            )
            scores.append(statistics.fmean(_finite(row.get("score")) for row in scored))
        return statistics.fmean(scores)

    return evaluate


main = cli.stage_main(run)

if __name__ == "__main__":
    main()
