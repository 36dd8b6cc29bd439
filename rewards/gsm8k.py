"""`gsm8k` verifier: the response's final number equals the ground truth's, numerically.

The final number is the stated answer (`stated_answer`: the first number after the last `####`, else in the last
`\\boxed{}`, else the first after the last "answer is"), else the last number of the response. `$` and thousands
separators are ignored; "18", "18.0" and "18.00" are equal (exact decimal comparison, no float rounding)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from rewards.answers import last_boxed, numbers

_ANSWER_IS = re.compile(r"answer is", re.I)


def verify(response: str, ground_truth) -> float:
    predicted = extract_number(response)
    if predicted is None:
        return 0.0
    truths = ground_truth if isinstance(ground_truth, list) else [ground_truth]
    return float(any(_same_number(predicted, str(truth)) for truth in truths))


def extract_number(response: str) -> str | None:
    """The stated answer, else (with no `####`) the response's last number."""
    stated = stated_answer(response)
    if stated is not None or "####" in response:
        return stated
    found = numbers(response)
    return found[-1] if found else None


def stated_answer(response: str) -> str | None:
    """The number the response gives as its answer, in the format the prompts ask for: the first number after the
    last `####`, else in the last `\\boxed{}`, else after the last "answer is"; None when it states none. RLVR's
    format reward and its format-only hacking signal read this too."""
    if "####" in response:
        found = numbers(response.rsplit("####", 1)[1])
        return found[0] if found else None
    boxed = last_boxed(response)
    if boxed is not None and numbers(boxed):
        return numbers(boxed)[0]
    after = _ANSWER_IS.split(response)
    if len(after) > 1 and numbers(after[-1]):
        return numbers(after[-1])[0]
    return None


def answer_key(response: str) -> Decimal | None:
    """The final number as this verifier compares it, for majority voting: "18", "18.0" and "$18.00" are one answer."""
    predicted = extract_number(response)
    try:
        return Decimal(predicted) if predicted is not None else None
    except InvalidOperation:
        return None


def check_ground_truth(truth) -> None:
    """Raise ValueError unless the truth is exactly one number."""
    truth_numbers = numbers(str(truth))
    if len(truth_numbers) != 1:
        raise ValueError(f"gsm8k ground truth must be one number, got {str(truth)[:80]!r}")


def _same_number(predicted: str, truth: str) -> bool:
    check_ground_truth(truth)
    try:
        return Decimal(predicted) == Decimal(numbers(truth)[0])
    except InvalidOperation:
        return False
