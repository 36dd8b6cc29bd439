"""`string_match` verifier: the response's normalised final answer equals the normalised ground truth.

Final answer: the last `<answer>...</answer>`, else what follows the last "answer is" / "Answer:" on its line, else
the last `\\boxed{}`, else the whole response. Normalisation (SQuAD's): lower case, punctuation and articles removed,
whitespace collapsed.
"""

from __future__ import annotations

import re

from rewards.answers import last_boxed, normalize_text

_ANSWER_TAGS = re.compile(r"<(/?)answer>", re.I)
_ANSWER_LINE = re.compile(r"(?:answer is|answer:)\s*(.*)", re.I)


def verify(response: str, ground_truth) -> float:
    answer = normalize_text(extract_answer(response))
    truths = ground_truth if isinstance(ground_truth, list) else [ground_truth]
    return float(bool(answer) and any(answer == normalize_text(str(truth)) for truth in truths))


def answer_key(response: str) -> str | None:
    """The normalised final answer, as compared with the truth: what majority voting counts."""
    return normalize_text(extract_answer(response)) or None


def extract_answer(response: str) -> str:
    tagged = last_tagged(response)
    if tagged is not None:
        return tagged
    lines = _ANSWER_LINE.findall(response)
    if lines:
        return lines[-1]
    boxed = last_boxed(response)
    return boxed if boxed is not None else response


def last_tagged(response: str) -> str | None:
    """What `re.findall(r"<answer>(.*?)</answer>", response, re.S | re.I)[-1]` gives, in linear time (that pattern
    rescans the rest of the text from every unclosed `<answer>`): an opening tag pairs with the next closing one."""
    last, content_start = None, None
    for tag in _ANSWER_TAGS.finditer(response):
        if content_start is None and not tag.group(1):
            content_start = tag.end()
        elif content_start is not None and tag.group(1):
            last, content_start = response[content_start : tag.start()], None
    return last
