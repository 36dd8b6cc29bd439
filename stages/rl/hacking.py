"""The reward-hacking watch: every N steps, greedy answers to held-out prompts of the eval suite are scored; a
training reward that rose while that score fell is a warning (stderr, the manifest, the trainer's logs)."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable

from omegaconf import DictConfig
from transformers import TrainerCallback

from runtime import generation
from stages.rl.reward import finite


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
            scores.append(statistics.fmean(finite(row.get("score")) for row in scored))
        return statistics.fmean(scores)

    return evaluate
