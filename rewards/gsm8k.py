"""`gsm8k` verifier: the response's final number equals the ground truth's, exactly.

Data flow: response -> `stated_answer` (the first number after the last `####`, else in the last `\\boxed{}`, else
in the last "answer is" clause) or, with no `####`, the last number of the response -> compared as an exact
Fraction with the truth. Numbers are read by `rewards.numbers` (signs in any dash, thousands in any grouping,
fractions, mixed numbers, `$`): "18", "18.0" and "$18.00" are equal, `–5` is -5.

The "answer is" clause is read for its meaning: a number the clause negates ("not 12, but 15") is skipped, an
equation's result is its last side ("The answer is 2 + 3 = 5"), and a correction after it ("... is 5. Wait,
actually it is 7") replaces it."""

from __future__ import annotations

import functools
import re
from fractions import Fraction

from rewards.answers import last_boxed
from rewards.numbers import last_number, numbers_in, read_number

_ANSWER_IS = re.compile(r"answer\s+is\b|answer\s*:", re.I)
_CLAUSE_END = re.compile(r"[.!?;](?:\s|$)|\n")
_NEGATION = re.compile(r"(?:\bnot|n't|\binstead\s+of|\brather\s+than|\bnor)\s*(?:exactly\s+|equal\s+to\s+)?$", re.I)
_CORRECTION = re.compile(r"\b(?:wait|actually|correction|sorry|i\s+mean|no,)\b", re.I)


def verify(response: str, ground_truth) -> float:
    predicted = extract_number(response)
    if predicted is None:
        return 0.0
    truths = ground_truth if isinstance(ground_truth, list) else [ground_truth]
    return float(any(predicted == _truth_number(str(truth)) for truth in truths))


def extract_number(response: str) -> Fraction | None:
    """The stated answer, else (with no `####`) the response's last number."""
    stated = stated_answer(response)
    if stated is not None or "####" in response:
        return stated
    return last_number(response)


def stated_answer(response: str) -> Fraction | None:
    """The number the response gives as its answer, in the format the prompts ask for: the first number after the
    last `####`, else in the last `\\boxed{}`, else in the last "answer is" clause; None when it states none.
    RLVR's format reward and its format-only hacking signal read this too."""
    if "####" in response:
        found = numbers_in(response.rsplit("####", 1)[1])
        return found[0][2] if found else None
    boxed = last_boxed(response)
    if boxed is not None:
        value = _clause_number(boxed)
        if value is not None:
            return value
    matches = list(_ANSWER_IS.finditer(response))
    if not matches:
        return None
    rest = response[matches[-1].end() :]
    end = _CLAUSE_END.search(rest)
    value = _clause_number(rest[: end.start()] if end else rest)
    if value is None:
        return None
    after = rest[end.end() :] if end else ""
    corrections = list(_CORRECTION.finditer(after))
    if corrections:
        corrected = _clause_number(after[corrections[-1].end() :])
        if corrected is not None:
            return corrected
    return value


def _clause_number(clause: str) -> Fraction | None:
    """The first number of a clause that the clause does not negate; of an equation, its last side's."""
    whole = read_number(clause.strip().rstrip("."))
    if whole is not None:
        return whole  # the clause is one number ("1 234")
    if "=" in clause:
        clause = clause.rsplit("=", 1)[1]
    for start, _, value in numbers_in(clause):
        if not _NEGATION.search(clause[:start]):
            return value
    return None


def answer_key(response: str) -> Fraction | None:
    """The final number as this verifier compares it, for majority voting: "18", "18.0" and "$18.00" are one answer."""
    return extract_number(response)


def check_ground_truth(truth) -> None:
    """Raise ValueError unless the truth is exactly one number."""
    _truth_number(str(truth))


@functools.lru_cache(maxsize=4096)
def _truth_number(truth: str) -> Fraction:
    """(Cached: the ground truth of a prompt comes back for every sample of it.)"""
    found = numbers_in(truth)
    if len(found) != 1:
        raise ValueError(f"gsm8k ground truth must be one number, got {truth[:80]!r}")
    return found[0][2]
