"""RLAIF's reward (`rlvr.reward=judge`): an LM judge rates each completion against the constitution, as a TRL reward
function.

prompts + completions -> the request (the last user turn) and the answer (the last assistant turn) -> Judge.rate
(pointwise, runtime/judge.py: the constitution's principles and worked example) -> (rating - 1) / 4, on the
verifiers' 0..1 scale (TRL weighs it by rlvr.verification_reward, as it does the verifiers); a completion cut off
without end-of-sequence gets rlvr.nonstop_penalty instead, as under the verifiers; a rating the judge did not give
(an endpoint's reply without one) pays 0 and is counted.
"""

from __future__ import annotations

import statistics
import time

from rewards import is_truncated
from rewards.process import problem_text
from rewards.tool_call import final_answer
from runtime.constitution import RATING_RANGE
from runtime.judge import Judge


class JudgeReward:
    __name__ = "judge"  # TRL names the reward columns of its logs after this

    def __init__(self, rater: Judge, *, nonstop_penalty: float | None, weight: float, eos_token_ids: set[int]):
        self.rater = rater
        # TRL multiplies this function's rewards by `weight`: the penalty is divided by it to land as configured
        self.nonstop_penalty = None if nonstop_penalty is None else nonstop_penalty / weight
        self.eos_token_ids = eos_token_ids
        self.skipped = 0  # ratings the judge did not give, since the start
        self.seconds = 0.0  # time spent judging in the last call

    def __call__(self, prompts, completions, completion_ids, log_metric=None, **_):
        start = time.perf_counter()
        answers = [(final_answer(c) or "") if isinstance(c, list) else c for c in completions]
        ratings = self.rater.rate([problem_text(p) for p in prompts], answers)
        low, high = RATING_RANGE
        rewards = []
        for rating, ids in zip(ratings, completion_ids, strict=True):
            if self.nonstop_penalty is not None and is_truncated(ids, self.eos_token_ids):
                rewards.append(self.nonstop_penalty)
            elif rating.score is None:
                self.skipped += 1
                rewards.append(0.0)
            else:
                rewards.append((rating.score - low) / (high - low))
        self.seconds = time.perf_counter() - start
        if log_metric is not None:
            given = [r.score for r in ratings if r.score is not None]
            log_metric("judge/rating", statistics.fmean(given) if given else float("nan"))
            log_metric("judge/skipped", float(self.skipped))
            for name, count in self.rater.backend.counts().items():
                log_metric(f"judge/{name.removeprefix('judge_')}", float(count))
            log_metric("judge/seconds", self.seconds)
        return rewards
