"""Where an RL step's time goes: generation / reward / update, logged as time/* beside TRL's own metrics, and the
means a manifest records."""

from __future__ import annotations

import statistics
import time
from collections import defaultdict


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


def mean_times(log_history: list[dict]) -> dict:
    """Mean seconds per step of generation / reward / update over the run, and the reward's share of the step."""
    times = {}
    for key in ("time/generation_s", "time/reward_s", "time/rollout_s", "time/update_s", "step_time"):
        values = [entry[key] for entry in log_history if entry.get(key) is not None]
        if values:
            times[f"mean_{key.replace('time/', '')}"] = statistics.fmean(values)
    if times.get("mean_step_time"):
        times["reward_share_of_step"] = times.get("mean_reward_s", 0.0) / times["mean_step_time"]
    return times
