"""Final-answer extraction shared by the answer verifiers (gsm8k, math, string_match); numbers are read by
`rewards.numbers`.

An answer offered with alternatives is no answer: "17 or 18", "17, 18", "17-18", "17 to 18", "17 ± 1",
"17 (or maybe 18)", `\\boxed{17}, \\boxed{18}`, `$17$ or $18$`. A verifier that reads one of them (the first, the
last) pays a response that never committed; `offers_alternatives` is the one test of the text between two answers
that every verifier applies, to numbers in a clause and to answer markers side by side."""

from __future__ import annotations

import re
from typing import NamedTuple

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")


class Span(NamedTuple):
    """An answer marker in the response: where it starts and ends, and what it holds."""

    start: int
    end: int
    content: str


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (or `\\fbox{...}`), nested braces included; `\\boxed 5` works too."""
    boxes = last_two_boxed(text)
    return boxes[-1].content if boxes else None


def last_two_boxed(text: str) -> list[Span]:
    """The last box and the one before it (when both close), in order: at most two parses, so linear in the text.
    Empty when the last box does not close (a truncated answer is no answer)."""
    matches = list(_BOXED.finditer(text))
    spans = []
    for match in matches[-2:]:
        span = _box(text, match)
        if span is not None:
            spans.append(span)
        elif match is matches[-1]:
            return []
    return spans


def _box(text: str, match: re.Match) -> Span | None:
    start = match.end()
    if start >= len(text):
        return None
    if text[start] != "{":
        token = re.match(r"[^\s$]+", text[start:])
        return Span(match.start(), start + token.end(), token.group(0)) if token else None
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return Span(match.start(), index + 1, text[start + 1 : index].strip())
    return None  # unbalanced


# What may stand between two answers offered together: layout, list and range punctuation, "or", "to", plus-minus,
# LaTeX's disjunctions and spacing, and words that soften a choice; nothing with content of its own. Not "and": it
# joins an answer to its reason as often as to another answer ("18, since 3 * 6 = 18 and 2 were left").
_CONNECTIVES = re.compile(
    r"(?:\s|[,;/|()\[\]{}$]|[-+\u2010-\u2015\u2212\ufe63\uff0d\u00b1\u2213]|\\[,;:! ]"
    r"|\\(?:pm|mp|lor|vee|quad|qquad|text|textrm|textit|mbox|mathrm|left|right)(?![A-Za-z])"
    r"|(?<![A-Za-z])(?:or|to|either|maybe|perhaps|possibly|probably|else|vs|versus|through|till|until)(?![A-Za-z]))*",
    re.I,
)
_SENTENCE_END = re.compile(r"[.!?]")
_DISJUNCTION = re.compile(r"(?<![A-Za-z])(?:or|maybe|perhaps|possibly|either|else)(?![A-Za-z])", re.I)


_UNIT = re.compile(r"\s*[^\W\d_]{1,20}")


def offers_alternatives(gap: str) -> bool:
    """The text between two answers holds nothing but connectives: the response offers both ("17 or 18", "17, 18",
    "17-18", "17 to 18", "17 ± 1", "17 (or maybe 18)"); before a disjunction one word may stand, a unit ("17
    apples or 18"). A sentence break counts only beside a disjunction ("17. Or 18"): a list of further problems
    after an answer is not a second answer."""
    if _only_connectives(gap):
        return True
    unit = _UNIT.match(gap)
    rest = gap[unit.end() :] if unit else ""
    return unit is not None and _DISJUNCTION.search(rest) is not None and _only_connectives(rest)


def _only_connectives(gap: str) -> bool:
    if _SENTENCE_END.search(gap):
        return _DISJUNCTION.search(gap) is not None and _CONNECTIVES.fullmatch(_SENTENCE_END.sub(" ", gap)) is not None
    return _CONNECTIVES.fullmatch(gap) is not None


def offered_together(text: str, earlier: Span, later: Span) -> bool:
    """Two answer markers with different contents and only connectives between them (`\\boxed{17}, \\boxed{18}`,
    `$17$ or $18$`): the later one is not the response's answer alone."""
    return (
        earlier.end <= later.start
        and earlier.content.strip() != later.content.strip()
        and offers_alternatives(text[earlier.end : later.start])
    )


def sole_answer(text: str, markers: list[Span]) -> str | None:
    """The last marker's content (`markers`: the last two, as `last_two_boxed` gives them), or None when the one
    before it is offered with it."""
    if len(markers) == 2 and offered_together(text, *markers):
        return None
    return markers[-1].content
