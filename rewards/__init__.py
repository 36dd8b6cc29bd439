"""Verifiable rewards: one library for the RLVR reward and for scoring evaluations.

    VERIFIERS[name](response, ground_truth) -> float    the verifiers, in-process (no timeout)
    VerifierPool(num_workers, timeout_s)                 worker processes with a hard per-item timeout
        .score_rows(rows) -> rows + "score" (+ "error" / "timed_out"), .stats
    score_row(row) -> dict                               the same through a process-wide default pool
    answer_stated(name, response) -> bool                the response gives its answer in the verifier's format
    is_truncated(token_ids, eos_token_id, pad_token_id)  completions cut by the length limit (mark them
                                                         "truncated": true and they score 0)
    reward_verifier(dataset) -> name                     the verifier RL rewards a dataset's rows with
    identity.verifier_code_id() -> str                   this package's source and scoring libraries, hashed: what
                                                         checkpoints trained on the verifiers and eval results key on
Verifier names: gsm8k, math, ifeval (the reference, strict), ifeval_loose, ifeval_strict (the reference AND no
degenerate satisfaction: RL's IFEval reward), code, string_match, tool_call. A row's "dataset" may be a list (one
ground truth each): the scores are averaged; a row's optional "question" is read by the math and ifeval_strict
verifiers.
"""

from rewards.pool import DEFAULT_TIMEOUT_S, VerifierPool, default_pool, score_row
from rewards.registry import VERIFIERS, answer_stated, is_truncated, reward_verifier, row_truncated

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "VERIFIERS",
    "VerifierPool",
    "answer_stated",
    "default_pool",
    "is_truncated",
    "reward_verifier",
    "row_truncated",
    "score_row",
]
