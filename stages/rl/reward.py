"""The verifiable reward of RLVR as a TRL reward function.

completions (+ the dataset's `dataset`/`ground_truth` columns) -> final answer (or tool transcript) per completion ->
VerifierPool (the verifier of each row, in worker processes) -> score x (verification_reward + process_reward x the
step checker's score) + format_reward x well-formed; a completion cut off without end-of-sequence gets
nonstop_penalty instead -> rewards, and per-verifier and reward-hacking metrics through TRL's `log_metric`.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from collections import defaultdict

from rewards import answer_stated, is_truncated, reward_verifier
from rewards.process import problem_text, process_score
from rewards.tool_call import answer_uses_a_result, final_answer, tool_calls
from runtime import generation
from runtime.lineage import source_id


def reward_code_id() -> str:
    """This module's source: how the verifiers' scores become the reward. Like the verifiers' own code
    (rewards/identity.py) it is part of an RLVR checkpoint's identity, so a checkpoint trained under another
    composition (the process reward once paid wrong answers) is trained again, not reused."""
    return source_id(__file__)


class VerifiableReward:
    """A TRL reward function: `verification_reward` x the verifier's score, the verifier picked per row by its
    `dataset` column (TRL hands the dataset's other columns to reward functions as keyword arguments), plus
    `process_reward` x the step checker's score of the working (rewards/process.py: dense, ground-truth-free) x the
    verifier's score. The step checker cannot tell working that solves the problem from true arithmetic on the
    problem's numbers that leads elsewhere; paid ungated, a policy learnt to write one such step before a wrong answer
    (numerators added: "1 + 5 = 6", boxed 6/7 for 1/3 + 5/7). So working pays only as much as the answer is right.

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
        steps = [process_score(q, t) if self.process_reward else 0.0 for q, t in zip(questions, texts)]

        rewards = []
        for score, formed, step_score, done in zip(scores, well_formed, steps, finished):
            if not done and self.nonstop_penalty is not None:
                rewards.append(self.nonstop_penalty)
            else:
                rewards.append(
                    score * (self.verification_reward + self.process_reward * step_score) + self.format_reward * formed
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
        scores = [finite(row.get("score")) for row in scored]
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


def finite(value) -> float:
    """A score as a float; anything else (None, NaN, text) is 0."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) else 0.0


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
