"""`math` verifier: extract the response's final answer and test it for mathematical equivalence with the truth.

Extraction, first found wins (a single answer, so a response cannot hedge between two):
    the last `\\boxed{...}` / `\\fbox{...}` (nested braces), Minerva's "The final answer is ...",
    the last math span (`$...$`, `$$...$$`, `\\(...\\)`, `\\[...\\]`), else a short bare response.
Equivalence: normalised string equality; numbers, and tuples/intervals of numbers, compared exactly the way
math-verify would (without its slow LaTeX parser); otherwise math-verify (LaTeX -> sympy through
latex2sympy2_extended: fractions, radicals, expressions, intervals, sets, tuples, equations), plus percentages read
either as the number or as the number / 100.

An answer must also be *finished*, as far as the truth is: a sum with two like terms (`\frac{2}{5} + \frac{6}{7}`,
`y + 8 + 7y + 1`), a product or quotient of two numbers (`\frac{2}{3} \\cdot \frac{3}{5}`), or a parenthesised sum
where the truth has none (`(x+2)(x+3)` for `x^2+5x+6`) is the question restated, not its answer, though sympy finds
it equal: an RL policy learnt to box the problem's own expression (README, "Real models on a CPU"). Unreduced
fractions (`\frac{6}{8}` for `\frac{3}{4}`), reordered terms and an expanded form of a factored truth still count.

Nothing here has a timeout of its own: math-verify's signal-based ones are switched off (they break outside the
main thread) because the pool gives every verification a hard timeout. Inputs known to make sympy hang or explode
(exponent towers such as 9^{9^{9^9}}, factorials, binomials and gamma of large or nested arguments, deep nesting,
answers over 1000 characters) are only compared as strings, and the verdict cache is keyed by a digest of the pair
and capped, so long distinct answers cost neither time nor memory.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import logging
import re
from fractions import Fraction

import sympy
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse
from math_verify import verify as math_verify

from rewards.answers import ascii_minus, last_boxed

# math-verify warns once that its timeouts are off (on purpose: the pool enforces them) and logs parse failures.
logging.getLogger("math_verify").setLevel(logging.ERROR)

_EXTRACTION = (LatexExtractionConfig(), ExprExtractionConfig())
_MINERVA = re.compile(r"final answer is\s*(.+?)(?:\.?\s*I hope it is correct|\.?\s*$)", re.I | re.M)
_MATH_OPENING = re.compile(r"\$|\\\(|\\\[")
_BARE_ANSWER_CHARS = 100
_INTEGER = re.compile(r"^-?\d{1,3}(?:,\d{3})+$|^-?\d+$")
_NUMBER = re.compile(
    r"^(-)?(?:(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d*)?|\.\d+)"
    r"|\\[dt]?frac\{(\d+)\}\{(\d+)\}|(\d+)/(\d+))$"
)
_SPACING = re.compile(r"\\[,;:! ]|\\left|\\right|\\displaystyle|\s+")
# Guards: what we never hand to sympy.
_MAX_CHARS = 1000
_MAX_NESTING = 12
_MAX_EXPONENT_DIGITS = 5
# Factorials, binomials and gamma grow faster than any exponent guard can bound: allowed on small numbers only.
_COMBINATORIAL = re.compile(r"(?<!\\)!(?!=)|\\[dt]?binom|\\choose|\\Gamma|\\gamma|\\operatorname\{\s*[Gg]amma")
_MAX_COMBINATORIAL_DIGITS = 3


def verify(response: str, ground_truth) -> float:
    answer = extract_answer(response)
    if answer is None:
        return 0.0
    truths = ground_truth if isinstance(ground_truth, list) else [ground_truth]
    return float(any(equivalent(str(truth), answer) for truth in truths))


def extract_answer(response: str) -> str | None:
    """The stated answer, else Minerva's "The final answer is ...", else the last `$...$`, else a short bare reply."""
    boxed = stated_answer(response)
    if boxed is not None:
        return boxed
    minerva = _MINERVA.findall(response)
    if minerva:
        return _strip_dollars(minerva[-1])
    span = last_math_span(response)
    if span is not None:
        return span
    stripped = response.strip()
    return stripped if 0 < len(stripped) <= _BARE_ANSWER_CHARS else None


def answer_key(response: str) -> str | None:
    """The final answer as extracted for verification, with spacing and `\\dfrac`/`\\tfrac` spellings made one: what
    majority voting counts. Equivalent forms that differ otherwise (`\\frac{1}{2}`, `0.5`) are separate answers here:
    telling them apart takes the sympy comparison, too costly to run between every pair of samples."""
    answer = extract_answer(response)
    return _canonical(answer) if answer is not None else None


def stated_answer(response: str) -> str | None:
    """The answer in the format the prompts ask for, the last `\\boxed{}`; None without one (or unbalanced)."""
    return last_boxed(response)


def last_math_span(text: str) -> str | None:
    """The content of the last math span: what the first non-empty group of
    `re.findall(r"\\$\\$(.+?)\\$\\$|\\$(.+?)\\$|\\\\((.+?)\\\\)|\\\\[(.+?)\\\\]", text, re.S)[-1]` is, in linear time
    (that pattern rescans the rest of the text from every unclosed opening). At each opening the alternatives are
    tried in the same order; a closing that is not found is not found from any later opening either."""
    alternatives = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
    exhausted, last, position = set(), None, 0
    while (opening := _MATH_OPENING.search(text, position)) is not None:
        start = opening.start()
        position = start + 1
        for opener, closer in alternatives:
            if opener in exhausted or not text.startswith(opener, start):
                continue
            end = text.find(closer, start + len(opener) + 1)  # (.+?): at least one character
            if end == -1:
                exhausted.add(opener)
                continue
            last, position = text[start + len(opener) : end], end + len(closer)
            break
    return last


_VERDICTS: collections.OrderedDict[bytes, bool] = collections.OrderedDict()
_MAX_CACHED_VERDICTS = 65536


def equivalent(truth: str, answer: str) -> bool:
    """Cached by a digest of the pair (so long answers cost no memory), capped: the samples of one prompt often end
    in the same few answers."""
    key = hashlib.blake2b(f"{len(truth)}:{truth}{answer}".encode("utf-8", "surrogatepass"), digest_size=16).digest()
    verdict = _VERDICTS.get(key)
    if verdict is None:
        verdict = _equivalent(truth, answer)
        _VERDICTS[key] = verdict
        if len(_VERDICTS) > _MAX_CACHED_VERDICTS:
            _VERDICTS.popitem(last=False)
    else:
        _VERDICTS.move_to_end(key)
    return verdict


def _equivalent(truth: str, answer: str) -> bool:
    truth, answer = (ascii_minus(_strip_dollars(text)) for text in (truth, answer))
    if len(answer) > _MAX_CHARS or len(truth) > _MAX_CHARS:
        return _canonical(truth) == _canonical(answer)  # nothing that long is parsed or analysed
    if _unfinished(_canonical(answer), _canonical(truth)):
        return False
    quick = _quick_verdict(_canonical(truth), _canonical(answer))
    if quick is not None:
        return quick
    if _too_costly(truth) or _too_costly(answer):
        return False
    gold, predicted = _parse_cached(truth), _parse_cached(answer)
    if not gold or not predicted:
        return False
    if math_verify(gold, predicted, timeout_seconds=None):
        return True
    # A percentage may be meant as its number (gold "50\%", answer "50") or as a fraction (gold "0.5", answer "50\%")
    truth_percent, answer_percent = "%" in truth, "%" in answer
    if truth_percent != answer_percent:
        if answer_percent:
            predicted = _percent_as_fraction(predicted)
        else:
            gold = _percent_as_fraction(gold)
        return bool(predicted and gold) and math_verify(gold, predicted, timeout_seconds=None)
    return False


@functools.lru_cache(maxsize=8192)
def _parse_cached(text: str) -> list:
    """math-verify's parse of one answer (the ground truths of RL come back for every sample of a prompt)."""
    return parse(f"${text}$", extraction_config=_EXTRACTION, parsing_timeout=None)


def _percent_as_fraction(parsed: list) -> list:
    return [item / 100 for item in parsed if isinstance(item, sympy.Expr) and item.is_number]


def _strip_dollars(text: str) -> str:
    text = text.strip()
    while len(text) >= 2 and text[0] == "$" and text[-1] == "$":
        text = text[1:-1].strip()
    return text.rstrip(".").strip()


def _canonical(text: str) -> str:
    return _SPACING.sub("", text).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")


_NUMERIC_OPERAND = r"(?:\d+(?:\.\d+)?|\\frac\{\d+\}\{\d+\}|\{\d+\})"
_NUMBER_TIMES_NUMBER = re.compile(_NUMERIC_OPERAND + r"(?:\\cdot|\\times|\\div|\*|:)" + _NUMERIC_OPERAND)
_COEFFICIENT = re.compile(r"^(?:\d+(?:\.\d+)?|\\frac\{\d+\}\{\d+\})(?:\\cdot|\*)?")
_OPENING, _CLOSING = "({[", ")}]"


def _unfinished(answer: str, truth: str) -> bool:
    """Is the answer (canonical LaTeX) work left undone that the truth has done? See the module docstring."""
    answer = answer.rsplit("=", 1)[-1] if re.match(r"^[A-Za-z]=", answer) else answer  # "x=3" answers 3
    if _NUMBER_TIMES_NUMBER.search(answer) and not _NUMBER_TIMES_NUMBER.search(truth):
        return True
    if _has_like_terms(answer) and not _has_like_terms(truth):
        return True
    return _has_parenthesised_sum(answer) and not _has_parenthesised_sum(truth)


def _has_like_terms(text: str) -> bool:
    """Two terms of one sum (at any depth of brackets, between commas) that differ only in their number."""
    for items in _sums(text):
        keys = [_COEFFICIENT.sub("", term.lstrip("+-")) for term in items]
        if len(keys) != len(set(keys)):
            return True
    return False


def _has_parenthesised_sum(text: str) -> bool:
    return any(len(terms) > 1 for bracket, terms in _groups(text) if bracket == "(")


def _sums(text: str) -> list[list[str]]:
    """The terms of every sum in the text: the top level and the inside of each bracket, split at commas."""
    return [_terms_of(part) for part in _top_level_split(text, ",")] + [terms for _, terms in _groups(text)]


def _groups(text: str) -> list[tuple[str, list[str]]]:
    """(opening bracket, terms) for every comma-separated part inside every bracketed group, at any depth."""
    found, stack = [], []
    for index, char in enumerate(text):
        if char in _OPENING:
            stack.append(index)
        elif char in _CLOSING and stack:
            start = stack.pop()
            found += [(text[start], _terms_of(part)) for part in _top_level_split(text[start + 1 : index], ",")]
    return found


def _terms_of(text: str) -> list[str]:
    """The terms of a sum at the top level: split at + and at a - that follows an operand (not a sign)."""
    terms = _split_top_level(text, lambda i: text[i] in "+-" and text[i - 1] not in "^_=,+-*/(")
    return [term for term in terms if term.lstrip("+-")]


def _top_level_split(text: str, separator: str) -> list[str]:
    return [part.removeprefix(separator) for part in _split_top_level(text, lambda i: text[i] == separator)]


def _split_top_level(text: str, splits_at) -> list[str]:
    """`text` cut before every index outside brackets where `splits_at(index)` holds (the cut character starts the
    next part)."""
    parts, start, depth = [], 0, 0
    for index, char in enumerate(text):
        if char in _OPENING:
            depth += 1
        elif char in _CLOSING:
            depth -= 1
        elif depth == 0 and index > start and splits_at(index):
            parts.append(text[start:index])
            start = index
    parts.append(text[start:])
    return parts


def _quick_verdict(truth: str, answer: str) -> bool | None:
    """The verdict math-verify would reach, when it is certain without parsing LaTeX (its ANTLR parser costs ~25 ms
    per new expression): equal strings, and numbers or tuples/intervals of numbers. None: ask math-verify."""
    if truth == answer:
        return True
    if _INTEGER.match(truth) and _INTEGER.match(answer):
        return _integer_key(truth) == _integer_key(answer)
    gold, predicted = _number(truth), _number(answer)
    if gold is not None and predicted is not None:
        if gold == predicted:
            return True
        if "." not in truth + answer:
            return False  # exact rationals: math-verify compares them exactly
        # math-verify rounds to 6 decimals when a float is involved: only a clear difference is certain
        return False if abs(gold - predicted) >= Fraction(2, 10**6) else None
    gold_items, predicted_items = _bracketed(truth), _bracketed(answer)
    if gold_items is None or predicted_items is None:
        return None
    if gold_items[0] != predicted_items[0] or len(gold_items[1]) != len(predicted_items[1]):
        return False
    verdicts = [_quick_verdict(g, p) for g, p in zip(gold_items[1], predicted_items[1])]
    if False in verdicts:
        return False
    return True if all(verdicts) else None


def _number(text: str) -> Fraction | None:
    """An integer, decimal, a/b or \\frac{a}{b} (with sign), exactly; None for anything else."""
    match = _NUMBER.match(text)
    if match is None:
        return None
    sign, decimal, numerator, denominator, slash_numerator, slash_denominator = match.groups()
    try:
        if decimal is not None:
            value = Fraction(decimal.replace(",", ""))
        else:
            value = Fraction(int(numerator or slash_numerator), int(denominator or slash_denominator))
    except (ValueError, ZeroDivisionError):
        return None
    return -value if sign else value


def _bracketed(text: str) -> tuple[str, list[str]] | None:
    """A tuple or interval written (a, b] etc.: (its brackets, its top-level items), or None."""
    if len(text) < 2 or text[0] not in "([" or text[-1] not in ")]":
        return None
    items, depth, start = [], 0, 1
    for index in range(1, len(text) - 1):
        char = text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                return None  # "(1)(2)": the brackets do not enclose everything
        elif char == "," and depth == 0:
            items.append(text[start:index])
            start = index + 1
    items.append(text[start:-1])
    return (text[0] + text[-1], items) if len(items) > 1 else None


def _integer_key(text: str) -> str:
    """An integer's canonical digits (compared as text: no limit on their number, no conversion cost)."""
    digits = text.replace(",", "").lstrip("-").lstrip("0") or "0"
    return digits if digits == "0" or not text.startswith("-") else "-" + digits


def _too_costly(text: str) -> bool:
    """Exponent towers, huge exponents, factorials/binomials/gamma of large or nested arguments and deep nesting
    make sympy run for hours or exhaust memory. (Texts over _MAX_CHARS never get here: _equivalent compares them
    as strings.)"""
    depth = deepest = 0
    for char in text:
        if char in "({[":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")}]":
            depth -= 1
    if deepest > _MAX_NESTING:
        return True
    combinatorial = len(_COMBINATORIAL.findall(text))
    if combinatorial and (
        combinatorial > 1 or "^" in text or "**" in text or re.search(rf"\d{{{_MAX_COMBINATORIAL_DIGITS + 1},}}", text)
    ):
        return True  # (10^{10})!, \binom{10^6}{5 \cdot 10^5}, (5!)!, \Gamma(99999)
    for exponent in _exponents(text.replace("**", "^")):
        if "^" in exponent or "\\exp" in exponent or len(re.sub(r"\D", "", exponent)) > _MAX_EXPONENT_DIGITS:
            return True
    return False


def _exponents(text: str) -> list[str]:
    """The operand of each `^` (a braced group, a parenthesised group, or the following number/token)."""
    operands = []
    for match in re.finditer(r"\^\s*", text):
        start = match.end()
        if start < len(text) and text[start] in "{(":
            operands.append(_group(text, start))
        else:
            token = re.match(r"-?\d+(?:\.\d+)?|\\[A-Za-z]+|.", text[start:])
            operands.append(token.group(0) if token else "")
    return operands


def _group(text: str, start: int) -> str:
    """The balanced group opening at text[start] (to the end of the text if unbalanced)."""
    opening = text[start]
    closing = "}" if opening == "{" else ")"
    depth = 0
    for index in range(start, len(text)):
        if text[index] == opening:
            depth += 1
        elif text[index] == closing:
            depth -= 1
            if depth == 0:
                return text[start + 1 : index]
    return text[start + 1 :]
