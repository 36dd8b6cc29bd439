"""`gsm8k` verifier: the response's final number equals the ground truth's, exactly.

Data flow: response -> `stated_answer` (the first number after the last `####`, else in the last `\\boxed{}`, else
in the last "answer is" clause) or, with no `####`, the value the last "N is the answer" names, else the last number
of the response -> compared as an exact Fraction with the truth. Numbers are read by `rewards.numbers` (signs in any
dash, thousands in any grouping, fractions, mixed numbers, `$`): "18", "18.0" and "$18.00" are equal, `–5` is -5.

The answer is read for its meaning:
- a number the text negates ("not 12, but 15") or gives as a bound ("at least 12", "12 or more", "between 12 and
  15") is skipped, and one given with a margin or a bound naming another value ("17, give or take a few", "17,
  within one", "17 (at most 18)") is no answer;
- an equation's result is its last side ("The answer is 2 + 3 = 5"), but two values set equal, each a side of its own,
  are no answer ("The answer is 18 = 17"; `answers.equated`);
- a correction after the clause replaces it ("... is 5. Wait, actually it is 7");
- an answer offered with an alternative is no answer ("17 or 18", "17, 18", "17 ± 1", "17, though it could be 18",
  "17 or eighteen", `\\boxed{17}, \\boxed{18}`; `rewards.answers.offers_alternatives`): the value after it, a number
  in words before it in its clause, the value before the last "answer is" cue ("17, unless the answer is 18");
- so are two answers stated in two formats side by side ("The answer is 17. #### 18"; `answers.contradicted`)."""

from __future__ import annotations

import functools
import re
from fractions import Fraction

from rewards.answers import (
    ANSWER_CUE,
    CASE_LABEL_NOUN,
    CLAUSE_END,
    CORRECTION,
    as_words,
    choice_left_open,
    contradicted,
    equated,
    final_statements,
    labelled_a_later_case,
    last_two_boxed,
    margin_after,
    next_value,
    offers_alternatives,
    sole_answer,
)
from rewards.numbers import ascii_signs, last_numbers, number_words_in, numbers_in, read_number, values_in
from rewards.text_utils import revealed_letters

_NEGATION = re.compile(  # ("if not 18" offers 18, it does not negate it)
    r"(?:(?<!\bif\s)\bnot|n't|\binstead\s+of|\brather\s+than|\bnor)\s*(?:exactly\s+|equal\s+to\s+)?$", re.I
)
_BOUND_BEFORE = re.compile(
    r"(?:\b(?:more|less|fewer|greater|higher|lower|bigger|smaller)\s+than|\bat\s+(?:least|most)|\bup\s+to|\bover"
    r"|\bunder|\babove|\bbelow|\bnearly|\balmost|\bbetween(?:\s+\S+\s+(?:and|to)|\s+[\d.,]+\s*[-\u2013\u2014])?"
    r"|[<>\u2264\u2265]=?|\\(?:[lg]eq?|[lg]eqslant|[lg]t)(?![A-Za-z]))\s*$",
    re.I,
)
_BOUND_AFTER = re.compile(
    r"\s*(?:or\s+(?:more|less|fewer|greater|higher|lower|above|below|so|thereabouts|under|over)\b"
    r"|at\s+(?:most|least|minimum|maximum|the\s+(?:most|least|very\s+\w+))\b|(?:max|min|tops)\b|\+(?!\s*[\d/-]))",
    re.I,
)
# "17 is the answer", "17 is my final answer": the value right before it is named the answer
_NAMED_THE_ANSWER = re.compile(
    r"[\s$]*(?:is|was|'s)\s+(?:the|my|our)\s+(?:(?:final|correct|right|required)\s+)?answer(?![A-Za-z])", re.I
)
_EQUALS = re.compile(r"(?<![<>!=])=(?!=)")
_CASE_LABEL_BEFORE = re.compile(rf"(?<![A-Za-z]){CASE_LABEL_NOUN}\s*$", re.I)
# An answer clause that names no value but points at several: "Candidates: 17 and 18. The answer is one of them."
_SEVERAL = re.compile(
    r"(?<![A-Za-z])(?:one\s+of|among|amongst|either|any\s+of|whichever|both|all\s+of|some\s+of)(?![A-Za-z])", re.I
)


_LAST_WINDOW = 256  # characters around the last number where a number in words may be offered beside it
_LOOK_BEHIND = 40  # characters before a number that may negate or bound it: a long clause costs no more per number


class _Hedged(Exception):
    """The response offers its answer with an alternative: it states no answer."""


def verify(response: str, ground_truth) -> float:
    predicted = extract_number(response)
    if predicted is None:
        return 0.0
    truths = ground_truth if isinstance(ground_truth, list) else [ground_truth]
    return float(any(predicted == _truth_number(str(truth)) for truth in truths))


def extract_number(response: str) -> Fraction | None:
    """The stated answer, else (with no `####`) the response's last number; None for an answer offered with an
    alternative."""
    response = as_words(ascii_signs(response))  # "\\boxed{17 \\text{ or so}}" reads "17 or so": a bound
    try:
        stated = _stated(response)
        if stated is not None or "####" in response:
            return stated
        named = _named_the_answer(response)
        return named if named is not None else _last_number(response)
    except _Hedged:
        return None


def stated_answer(response: str) -> Fraction | None:
    """The number the response gives as its answer, in the format the prompts ask for: the first number after the
    last `####`, else in the last `\\boxed{}`, else in the last "answer is" clause; None when it states none, or
    offers it with an alternative. RLVR's format reward and its format-only hacking signal read this too."""
    try:
        return _stated(as_words(ascii_signs(response)))
    except _Hedged:
        return None


def _stated(response: str) -> Fraction | None:
    if contradicted(response, final_statements(response), _same_number):
        raise _Hedged  # "The answer is 17. #### 18": two answers stated side by side
    if "####" in response:
        *earlier, last = response.rsplit("####", 2)
        if len(earlier) == 2:
            _answer_number(earlier[1] + " " + last)  # raises _Hedged for "#### 17 or #### 18"
        first_line = last.lstrip().split("\n", 1)[0]
        return _clause_number(last, len(last) - len(last.lstrip()) + len(first_line))
    boxes = last_two_boxed(response)
    if boxes:
        boxed = sole_answer(response, boxes)
        if boxed is None:
            raise _Hedged
        value = _clause_number(boxed, len(boxed))
        if value is not None:
            return value
    matches = list(ANSWER_CUE.finditer(response))
    if not matches:
        return None
    cue = matches[-1]
    if _clause_offered_after_a_value(response, cue.start(), cue.end()):
        raise _Hedged
    rest = response[cue.end() :]
    end = CLAUSE_END.search(rest)
    after = rest[end.end() :] if end else ""
    corrections = list(CORRECTION.finditer(after))
    if corrections:
        correction = after[corrections[-1].end() :]
        corrected = _clause_number(correction, len(correction))
        if corrected is not None:
            return corrected
    clause_end = end.start() if end else len(rest)
    stated = _clause_number(response, cue.end() + clause_end, begin=cue.end())  # what stands before the cue is seen
    if stated is None and _SEVERAL.search(revealed_letters(rest[:clause_end])):
        raise _Hedged  # the answer is "one of them": the values before it are candidates, not an answer
    return stated


def _named_the_answer(response: str) -> Fraction | None:
    """The value the last "N is the answer" names, with no "answer is" clause, box or `####` in the response ("So 17
    is the answer; as a check, 17 - 7 = 10": a check after it is not the answer), read and weighed as an answer
    clause's value is."""
    cues = list(_NAMED_THE_ANSWER.finditer(response))
    if not cues:
        return None
    cue = cues[-1]
    values = values_in(response)
    before = [other for other in values if other[1] <= cue.start()]
    if not before or before[-1][1] != cue.start():
        return None
    named = before[-1]
    if _NEGATION.search(response[max(0, named[0] - _LOOK_BEHIND) : named[0]]):
        return None
    if len(before) > 1 and _offered_together(response, before[-2], named):
        raise _Hedged  # "17 or 18 is the answer"
    value = _answer_number(response, named[0], named[1])
    after = next_value([other for other in values if other[0] >= cue.end()], value)
    if value is not None and after is not None and _offered_together(response, (0, cue.end(), value), after):
        raise _Hedged  # "17 is the answer, but 18 is also possible": weighed from the cue's end
    if value is not None and choice_left_open(response, cue.end(), value):
        raise _Hedged  # "17 is the answer. Or something else."
    return value


def _same_number(first: str, second: str) -> bool:
    """Both state one number, the same; or one of them states none this reader can tell."""
    values = []
    for text in (first, second):
        try:
            values.append(_clause_number(text, len(text)))
        except _Hedged:
            return True  # an alternative inside one statement is that statement's own matter
    return None in values or values[0] == values[1]


def _clause_offered_after_a_value(response: str, cue_start: int, cue_end: int) -> bool:
    """The answer clause is itself offered as the alternative of a value before it ("17, unless the answer is 18",
    "17 or perhaps the answer is 18"): the value before the cue and the clause's first value, offered together."""
    window = max(0, cue_start - _LAST_WINDOW)
    before = _shifted(values_in(response[window:cue_start]), window)
    after = _shifted(values_in(response[cue_end : cue_end + _LAST_WINDOW]), cue_end)
    return bool(before and after) and _offered_together(response, before[-1], after[0])


def _shifted(values: list[tuple[int, int, Fraction]], offset: int) -> list[tuple[int, int, Fraction]]:
    """Values found in a slice of a text, with their positions in the whole text."""
    return [(offset + start, offset + end, value) for start, end, value in values]


def _clause_number(text: str, stop: int, begin: int = 0) -> Fraction | None:
    """The answer of the clause `text[begin:stop]`: the clause when it is one number ("1 234"), else of an equation its
    last side's answer, else its first number's. The text goes on past the clause, so that an alternative offered
    in the next sentence is seen ("17. Or maybe 18"), and holds what comes before it, so that the condition a value is
    given under is seen ("Technically the answer is 17, practically 18")."""
    clause = text[begin:stop]
    whole = read_number(clause.strip().rstrip("."))
    if whole is not None:
        number_end = begin + len(clause.rstrip().rstrip("."))
        following = next_value([value for value in values_in(text) if value[0] >= number_end], whole)
        if following is not None and _offered_together(text, (0, number_end, whole), following):
            raise _Hedged
        if choice_left_open(text, number_end, whole):
            raise _Hedged  # "The answer is 17. Or something else.", "The answer is 17. If 17 is wrong, 18."
        return whole
    equals = [sign.end() for sign in _EQUALS.finditer(clause)]  # not the "=" of "<=" ("17 (<= 18)": a bound)
    return _answer_number(text, begin + (equals[-1] if equals else 0), stop)


def _answer_number(text: str, begin: int = 0, stop: int | None = None) -> Fraction | None:
    """The first number of `text[begin:stop]` that is neither negated nor a bound; raises `_Hedged` when the value
    next to it (the next wherever it is, or a number in words before it in the clause: "seventeen or 18") is offered
    with it as an alternative."""
    worded = number_words_in(text)
    found = sorted(numbers_in(text) + worded)
    in_words = {start for start, _, _ in worded}
    for index, (start, end, value) in enumerate(found):
        if start < begin or start in in_words:
            continue
        if stop is not None and start >= stop:
            return None
        before = text[max(begin, start - _LOOK_BEHIND) : start]
        if _NEGATION.search(before):
            continue
        if _BOUND_BEFORE.search(before) or _BOUND_AFTER.match(text, end):
            if index + 1 < len(found) and _offered_together(text, found[index], found[index + 1]):
                raise _Hedged  # "17 or thereabouts (18)": the value after a bound is offered beside it, not stated
            continue
        following = next_value(found[index + 1 :], value)
        if following is not None and _offered_together(text, found[index], following):
            raise _Hedged
        if choice_left_open(text, end, value):
            raise _Hedged  # "17 or XVIII", "17 or something else", "17, give or take a few"
        earlier = found[index - 1] if index else None  # a number in words before it in the clause
        worded_before = earlier is not None and earlier[0] >= begin and earlier[0] in in_words
        if worded_before and _offered_together(text, earlier, found[index]):
            raise _Hedged
        if earlier is not None and _equated(text, earlier, found[index]):
            raise _Hedged  # "The answer is 18 = 17": the equation's last side, set equal to another value
        return value
    return None


def _last_number(response: str) -> Fraction | None:
    """The response's last number, when it states no answer (the one before it when the last is negated: "18, not
    20"): None when it is a bound, `_Hedged` when it is offered with the value beside it ("... 17 or 18")."""
    found = last_numbers(response)
    if len(found) > 1 and _NEGATION.search(response[max(0, found[-1][0] - _LOOK_BEHIND) : found[-1][0]]):
        found = found[:-1]
    if not found:
        return None
    start, end, value = found[-1]
    if _BOUND_BEFORE.search(response[max(0, start - _LOOK_BEHIND) : start]) or _BOUND_AFTER.match(response, end):
        return None
    if _CASE_LABEL_BEFORE.search(response[max(0, start - _LOOK_BEHIND) : start]):
        raise _Hedged  # "... 7 in scenario 2.": the last number names a case; the values are given per case
    if labelled_a_later_case(response[max(0, start - _LAST_WINDOW) : start]):
        raise _Hedged  # "Case 1: 17. Case 2: 18.", "Answer 2: 18": the last value is given for a later case
    window = max(0, start - _LAST_WINDOW)
    beside = _shifted(number_words_in(response[window : end + _LAST_WINDOW]), window)  # "17 or eighteen", ...
    before = [word for word in beside if word[1] <= start]
    after = [word for word in beside if word[0] >= end]
    earlier = max(found[-2:-1] + before[-1:], default=None)  # the value just before it, in digits or in words
    if earlier is not None and (_offered_together(response, earlier, found[-1]) or margin_after(response, earlier[1])):
        raise _Hedged  # "... 17 or 18", "... 17 ± 1": the last number is an alternative or the margin
    if (after and _offered_together(response, found[-1], after[0])) or choice_left_open(response, end, value):
        raise _Hedged
    return value


def _offered_together(text: str, earlier: tuple, later: tuple) -> bool:
    """Two values of `text`, (start, end, value) each, different and offered as alternatives (`offers_alternatives`)
    or set equal (`equated`)."""
    return _equated(text, earlier, later) or (
        earlier[2] != later[2] and offers_alternatives(text, earlier[1], later[0], later[1])
    )


def _equated(text: str, earlier: tuple, later: tuple) -> bool:
    return earlier[2] != later[2] and equated(text, earlier[:2], later[:2])


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
