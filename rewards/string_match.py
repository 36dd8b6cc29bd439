"""`string_match` verifier: the response's normalised final answer equals the normalised ground truth.

Final answer: the last `<answer>...</answer>`, else what follows the last "answer is" / "Answer:" on its line, else
the last `\\boxed{}`, else the whole response; no answer where two tags or boxes are offered as alternatives
(`rewards.answers.offered_together`). A number (as `rewards.numbers` reads it: "-4", "3.5", "1/2", "1,000")
is compared by its exact value; any other text after normalisation: Unicode compatibility forms folded (fullwidth
letters), lower case, punctuation stripped from the ends of words and abbreviations' dots dropped ("U.S." is
"us"), articles dropped when other words remain, whitespace collapsed. Unlike SQuAD's normalisation, nothing that
tells two answers apart is deleted: signs, decimal points, slashes, carets, "+", inner colons stay
("C++" is not "C", "2:30" is not "230", "x^2" is not "x2").
"""

from __future__ import annotations

import functools
import re
import unicodedata

from rewards.answers import contradicted, final_statements, last_two_boxed, last_two_tagged, sole_answer
from rewards.numbers import read_number

_ANSWER_LINE = re.compile(r"(?:answer is|answer:)\s*(.*)", re.I)


_EDGE_PUNCTUATION = ".,!?;:'\"`()[]{}«»“”‘’"
_ABBREVIATION_DOT = re.compile(r"(?<=\w)\.(?=\w)|(?<=\b\w)\.$")
_ARTICLES = {"a", "an", "the"}
_STATEMENT_WORDS = 64  # an answer is stated in a few words; the comparison of two statements is bounded by this


def verify(response: str, ground_truth) -> float:
    extracted = extract_answer(response)
    answer = normalize(extracted) if extracted is not None else None
    truths = ground_truth if isinstance(ground_truth, list) else [ground_truth]
    return float(answer is not None and any(answer == normalize(str(truth)) for truth in truths))


def answer_key(response: str):
    """The normalised final answer, as compared with the truth: what majority voting counts."""
    extracted = extract_answer(response)
    return normalize(extracted) if extracted is not None else None


@functools.lru_cache(maxsize=8192)
def normalize(text: str):
    """("number", exact value) or ("text", normalised words); None for an empty answer."""
    value = read_number(text.strip().rstrip("."))
    if value is not None:
        return ("number", value)
    words = [_ABBREVIATION_DOT.sub("", word.strip(_EDGE_PUNCTUATION)) for word in _folded(text).split()]
    words = [word for word in words if word]
    if len(words) > 1:
        words = [word for word in words if word not in _ARTICLES] or words
    return ("text", " ".join(words)) if words else None


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def extract_answer(response: str) -> str | None:
    """The final answer (see the module docstring); None for two tagged or boxed answers offered as alternatives
    (`<answer>Paris</answer> or <answer>Lyon</answer>`)."""
    tagged = last_two_tagged(response)
    if contradicted(response, final_statements(response), _same_text):
        return None  # "<answer>Paris</answer> The answer is Lyon.": two answers stated side by side
    if tagged:
        return sole_answer(response, tagged)
    lines = _ANSWER_LINE.findall(response)
    if lines:
        return lines[-1]
    boxes = last_two_boxed(response)
    return sole_answer(response, boxes) if boxes else response


def _same_text(first: str, second: str) -> bool:
    """One statement's normalised words run inside the other's ("Paris" and "Paris, the capital"; a number by its
    value), or one of them is empty."""
    words = []
    for text in (first, second):
        normalized = normalize(text)
        if normalized is None:
            return True
        kind, value = normalized
        words.append(value.split() if kind == "text" else [str(value)])
    shorter, longer = sorted(words, key=len)
    if len(shorter) > _STATEMENT_WORDS:
        return True  # a page is no statement of an answer: nothing to compare
    return any(longer[index : index + len(shorter)] == shorter for index in range(len(longer) - len(shorter) + 1))
