"""`math` verifier: extract the response's final answer and test it for mathematical equivalence with the truth.

Extraction, first found wins (a single answer, so a response cannot hedge between two):
    the last `\\boxed{...}` / `\\fbox{...}` (nested braces), Minerva's "The final answer is ...",
    the last math span (`$...$`, `$$...$$`, `\\(...\\)`, `\\[...\\]`), else a short bare response.
Equivalence: normalised string equality; numbers, and tuples/intervals of numbers, compared exactly the way
math-verify would (without its slow LaTeX parser); otherwise math-verify (LaTeX -> sympy through
latex2sympy2_extended: fractions, radicals, expressions, intervals, sets, tuples, equations), plus percentages read
either as the number or as the number / 100.

An answer must also be *finished*, as far as the truth is: the question restated (`2/3-3/5`, `\\binom{5}{2}`, `5!`,
`\\sqrt{16}`, `\\log_2 8`, `\\gcd(12,18)`, `\\sin\\frac{\\pi}{6}`, `\\lfloor 3.5\\rfloor`, a sum or an integral,
`y + 8 + 7y + 1`) is not its answer, though sympy finds it equal: an RL policy learnt to box the problem's own
expression (README, "Real models on a CPU"). The rule is about meaning, not spelling (`_work_left`): parsed without
evaluation, the answer still holds operations that evaluating removes (it is written with more numbers than its
value needs, an applied function disappears, a sum/integral/limit/derivative is left to do, or a gcd/lcm/max/min/mod
the parser had to evaluate), more than the truth does. Compact notation for a number over 15 digits (`2^{100}`,
`30!`) is an answer, not work left; so are unreduced fractions (`\\frac{6}{8}`), unrationalised radicals
(`\\sqrt{8}`), and a factored or expanded polynomial for the other form. With the row's question, an expression
copied from it is no answer either (`restates`). Numbers are read by `rewards.numbers` (scientific notation,
repeating decimals, thousands separators, Unicode minus signs) and compared exactly: a decimal equals a rational
truth only when it is exactly that number, and never an irrational one (`3.14159265` is not `\\pi`, `0.5000001` is
not `0.5`). An inequality chain answers an interval (`1<x\\le 3` is `(1,3]`).

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
import math
import re

import sympy
from latex2sympy2_extended import latex2sympy
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse
from math_verify import verify as math_verify

from rewards.answers import Span, contradicted, final_statements, last_two_boxed, sole_answer
from rewards.numbers import ascii_signs, read_number

# math-verify warns once that its timeouts are off (on purpose: the pool enforces them) and logs parse failures.
logging.getLogger("math_verify").setLevel(logging.ERROR)

_EXTRACTION = (LatexExtractionConfig(), ExprExtractionConfig())
_MINERVA = re.compile(r"final answer is\s*(.+?)(?:\.?\s*I hope it is correct|\.?\s*$)", re.I | re.M)
_MATH_OPENING = re.compile(r"\$|\\\(|\\\[")
_BARE_ANSWER_CHARS = 100
_INTEGER = re.compile(r"^-?\d{1,3}(?:,\d{3})+$|^-?\d+$")
_SPACING = re.compile(r"\\[,;:! ]|\\left|\\right|\\displaystyle|\s+")
# Guards: what we never hand to sympy.
_MAX_CHARS = 1000
_MAX_NESTING = 12
_MAX_EXPONENT_DIGITS = 5
# Factorials, binomials and gamma grow faster than any exponent guard can bound: allowed on small numbers only.
_COMBINATORIAL = re.compile(r"(?<!\\)!(?!=)|\\[dt]?binom|\\choose|\\Gamma|\\gamma|\\operatorname\{\s*[Gg]amma")
_MAX_COMBINATORIAL_DIGITS = 3


def verify(response: str, ground_truth, question: str | None = None) -> float:
    """`question`: the problem's text, when the row has it: an answer copied from it is no answer."""
    answer = extract_answer(response)
    if answer is None:
        return 0.0
    truths = ground_truth if isinstance(ground_truth, list) else [ground_truth]
    if question is not None and restates(question, answer, truths):
        return 0.0
    offered = _as_interval(ascii_signs(_strip_dollars(answer)))  # `x \ge 17` is an interval, not a bound
    return float(any(not offers_more(offered, str(truth)) and equivalent(str(truth), answer) for truth in truths))


# Within one answer, the ways to offer more than one value, or a value only bounded: an alternative in words (`17
# \text{ (or 18)}`: math-verify drops text), a disjunction, plus-minus, an approximate relation (`17 \approx 18`:
# math-verify keeps one side), a bound (`\ge 17`, `17+`, `17^{+}`: math-verify reads 17; an inequality in a variable
# is read as its interval first), words that bound or approximate it (`17 \text{ at most}`, `17 \text{(approx.)}`) or
# give it a margin (`17 \text{ within one}`).
_OFFERS = {
    "words": re.compile(
        r"\\(?:text[a-z]*|mbox|mathrm)\s*\{[^{}]*(?:\d|(?<![A-Za-z])(?:or|maybe|perhaps|possibly|either)(?![A-Za-z]))"
    ),
    "or": re.compile(r"(?<![A-Za-z\\])or(?![A-Za-z])|\\(?:lor|vee)(?![A-Za-z])"),
    "plus-minus": re.compile(r"\\(?:pm|mp)(?![A-Za-z])|[\u00b1\u2213]|\+\s*/\s*-"),
    "approximately": re.compile(r"\\(?:approx|sim|simeq|thickapprox)(?![A-Za-z])|[\u2248\u223c]"),
    "bound": re.compile(
        r"\\(?:geq?|leq?|geqslant|leqslant|gtrsim|lesssim|gg|ll|gt|lt|nless|ngtr)(?![A-Za-z])"
        r"|[<>\u2264\u2265\u2272\u2273\u226a\u226b]|\+\s*\}?\s*$"
    ),
    "qualified": re.compile(
        r"\\(?:text[a-z]*|mbox|mathrm)\s*\{[^{}]*(?<![A-Za-z])(?:approx(?:\.|imately)?|about|roughly|around|nearly"
        r"|almost|at\s+(?:most|least)|maximum|minimum|est(?:\.|imated?)?|(?:upper|lower)\s+bound|within"
        r"|(?:off|out|wrong|miscount\w*|mistaken|err\w*|inaccurate)\s+by"
        r"|margin|error|tolerance|uncertainty|more\s+or\s+less|plus\s+or\s+minus)(?![A-Za-z])",
        re.I,
    ),
}


def offers_more(answer: str, truth: str) -> bool:
    """The answer offers alternatives in a way the truth does not (a truth `1 \\pm \\sqrt{2}` allows `\\pm`)."""
    return any(pattern.search(answer) and not pattern.search(truth) for pattern in _OFFERS.values())


_OPERATION = re.compile(r"[-+*/^()!|]|\\(?:frac|sqrt|cdot|times|div|binom|log|ln|sin|cos|tan|sum|int|gcd|lfloor)")


def restates(question: str, answer: str, truths) -> bool:
    """The answer is an expression with an operation, copied from the question (`Expand (x+2)(x+3).` answered
    `(x+2)(x+3)`), and not the truth itself: the question's own numbers with its own operators."""
    key = _canonical(ascii_signs(_strip_dollars(answer)))
    if len(key) < 3 or not _OPERATION.search(key) or read_number(key) is not None:
        return False
    if any(key == _canonical(ascii_signs(_strip_dollars(str(truth)))) for truth in truths):
        return False
    return key in _canonical(ascii_signs(question))


def extract_answer(response: str) -> str | None:
    """The stated answer, else Minerva's "The final answer is ...", else the last `$...$`, else a short bare reply;
    None for two boxes or two math spans offered as alternatives (`\\boxed{17}, \\boxed{18}`, `$17$ or $18$`)."""
    if contradicted(response, final_statements(response), _same_value):
        return None  # "\\boxed{17} The answer is 18.": two answers stated side by side
    boxes = last_two_boxed(response)
    if boxes:
        return sole_answer(response, boxes)
    minerva = _MINERVA.findall(response)
    if minerva:
        return _strip_dollars(minerva[-1])
    spans = last_two_math_spans(response)
    if spans:
        return sole_answer(response, spans)
    stripped = response.strip()
    return stripped if 0 < len(stripped) <= _BARE_ANSWER_CHARS else None


def _same_value(first: str, second: str) -> bool:
    """Equivalent either way, or one of them states no value this reader can compare."""
    first, second = _stated_value(first), _stated_value(second)
    if first is None or second is None or not _parse_cached(first) or not _parse_cached(second):
        return True
    return equivalent(first, second) or equivalent(second, first)


_TEXT_COMMAND = re.compile(r"\\(?:text[a-z]*|mbox|mathrm)\s*\{[^{}]*\}")
_PROSE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")  # a word, not a LaTeX command's name


def _stated_value(statement: str) -> str | None:
    """What a statement gives as its value: its last math span, else itself; an equation's last side; what comes
    before its first word of prose ("18 dollars"); None when prose comes first ("the sum is 17", "clear from the work
    above": a reader of values cannot compare them)."""
    spans = last_two_math_spans(statement)
    value = spans[-1].content if spans else statement
    value = _TEXT_COMMAND.sub(" ", value.rsplit("=", 1)[-1])
    prose = _PROSE.search(value)
    value = (value[: prose.start()] if prose else value).strip().rstrip(".,;:!? ")  # "18 dollars": 18
    if not value or len(value) > _MAX_CHARS or _too_costly(value):
        return None
    return value


def answer_key(response: str) -> str | None:
    """The final answer as extracted for verification, with spacing and `\\dfrac`/`\\tfrac` spellings made one: what
    majority voting counts. Equivalent forms that differ otherwise (`\\frac{1}{2}`, `0.5`) are separate answers here:
    telling them apart takes the sympy comparison, too costly to run between every pair of samples."""
    answer = extract_answer(response)
    return _canonical(answer) if answer is not None else None


def stated_answer(response: str) -> str | None:
    """The answer in the format the prompts ask for, the last `\\boxed{}`; None without one (or unbalanced), or with
    two offered as alternatives."""
    boxes = last_two_boxed(response)
    return sole_answer(response, boxes) if boxes else None


def last_two_math_spans(text: str) -> list[Span]:
    """The last math span and the one before it: the last's content is what the first non-empty group of
    `re.findall(r"\\$\\$(.+?)\\$\\$|\\$(.+?)\\$|\\\\((.+?)\\\\)|\\\\[(.+?)\\\\]", text, re.S)[-1]` is, in linear time
    (that pattern rescans the rest of the text from every unclosed opening). At each opening the alternatives are
    tried in the same order; a closing that is not found is not found from any later opening either."""
    alternatives = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
    exhausted, spans, position = set(), [], 0
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
            position = end + len(closer)
            spans = [*spans[-1:], Span(start, position, text[start + len(opener) : end])]
            break
    return spans


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
    truth, answer = (_as_interval(ascii_signs(_strip_dollars(text))) for text in (truth, answer))
    if len(answer) > _MAX_CHARS or len(truth) > _MAX_CHARS:
        return _canonical(truth) == _canonical(answer)  # nothing that long is parsed or analysed
    quick = _quick_verdict(_canonical(truth), _canonical(answer))
    if quick is not None:
        return quick
    if _too_costly(truth) or _too_costly(answer):
        return False
    if _is_decimal(answer) and _irrational(truth):
        return False  # an approximation, however close, is not the number
    gold, predicted = _parse_cached(truth), _parse_cached(answer)
    if not gold or not predicted:
        return False
    if math_verify(gold, predicted, timeout_seconds=None):
        return _same_tokens(truth, answer) or _work_left(answer) <= _work_left(truth)
    # A percentage may be meant as its number (gold "50\%", answer "50") or as a fraction (gold "0.5", answer "50\%")
    truth_percent, answer_percent = "%" in truth, "%" in answer
    if truth_percent != answer_percent:
        if answer_percent:
            predicted = _percent_as_fraction(predicted)
        else:
            gold = _percent_as_fraction(gold)
        return bool(predicted and gold) and math_verify(gold, predicted, timeout_seconds=None)
    return False


_EVALUATED_WHEN_PARSED = re.compile(r"\\(?:gcd|lcm|max|min|bmod|pmod|mod)\b|\\operatorname\{\s*(?:gcd|lcm)\s*\}")
_NUMBER_PRODUCT = re.compile(
    r"(?:\d|\})\s*(?:\\cdot|\\times|\\div|\*|:)\s*(?:\d|\\[dt]?frac)|\(\s*-?[\d.]+\s*\)\s*\(\s*-?[\d.]+\s*\)"
    r"|\(\s*-?\\[dt]?frac\{\d+\}\{\d+\}\s*\)\s*\(\s*-?\\[dt]?frac\{\d+\}\{\d+\}\s*\)"
)
_DECORATIONS = re.compile(r"\\(?:text|textbf|textrm|mbox|mathrm)\s*\{[^{}]*\}|\^\s*\{?\s*\\circ\s*\}?|\\?%|\\\$|\$")
_RADICAL = re.compile(r"(-?\d*)\\sqrt\{(\d{1,12})\}")
_NUMBER_LITERAL = re.compile(r"\d+(?:\.\d+)?")
_LEFT_TO_DO = (sympy.Integral, sympy.Sum, sympy.Product, sympy.Limit, sympy.Derivative)
_LONG_NUMBER_DIGITS = 15


@functools.lru_cache(maxsize=8192)
def _work_left(text: str) -> int:
    """How much evaluating the expression would still do: 0 for a finished answer (see the module docstring)."""
    textual = 10 * len(_EVALUATED_WHEN_PARSED.findall(text)) + 10 * len(_NUMBER_PRODUCT.findall(_canonical(text)))
    if read_number(text) is not None:
        return 0
    radical = _RADICAL.fullmatch(_canonical(text))
    if radical:  # k√n, the commonest radical answer, without the LaTeX parser: work left only if n is a square
        return int(math.isqrt(int(radical[2])) ** 2 == int(radical[2]))
    text = _DECORATIONS.sub("", text)  # units, degrees, percent and dollar signs: notation, not operations
    # What the LaTeX parser cannot read as one expression is judged by its numbers: math-verify still finds a value in
    # `17 \mid 18`, `17 \to 18`, `17 \& 18` or a `cases` environment, one of several the answer offers.
    unread = textual + max(0, len(_NUMBER_LITERAL.findall(text)) - 1)
    try:
        with sympy.evaluate(False):
            raw = latex2sympy(text)
        done = next((item for item in _parse_cached(text) if isinstance(item, sympy.Basic)), None)  # (cached)
        if not isinstance(raw, sympy.Basic) or done is None:
            return unread
        if raw.has(*_LEFT_TO_DO):
            return 100
        done = done.doit()
        work = max(0, _numbers(raw) - _numbers(done)) + max(0, _applied(raw) - _applied(done))
    except Exception:  # the LaTeX parser and sympy raise anything; what they cannot read is judged by its text
        return unread
    work += textual
    if work and done.is_Rational and max(len(str(abs(done.p))), len(str(done.q))) > _LONG_NUMBER_DIGITS:
        return 0  # compact notation for a long number (2^{100}, 30!), not work left
    return work


_TOKEN = re.compile(r"\\[A-Za-z]+|\d+(?:\.\d+)?|[^\s{}]")


def _same_tokens(truth: str, answer: str) -> bool:
    """The same symbols in another order (`b + ax + x^2` for `x^2 + ax + b`): no more work left than the truth has,
    known without parsing."""
    return collections.Counter(_TOKEN.findall(_canonical(truth))) == collections.Counter(
        _TOKEN.findall(_canonical(answer))
    )


def _numbers(expression) -> int:
    """How many numbers an expression is written with: evaluating an operation on numbers leaves fewer (`2/3-3/5`:
    two; `1/15`: one). A fraction p/q is one number, and a sign is none."""
    if expression.is_Number:
        return 1
    if expression.is_Pow and expression.exp == -1:
        return _numbers(expression.base)  # 1/q: the exponent is how division is written, not a number
    if (
        expression.is_Mul
        and len(expression.args) == 2
        and any(arg.is_Integer for arg in expression.args)
        and any(arg.is_Pow and arg.exp == -1 and arg.base.is_Integer for arg in expression.args)
    ):
        return 1  # p/q as written, unreduced or not
    if expression.is_Mul:  # a factor -1 is a sign, not a number the answer is written with
        return sum(_numbers(arg) for arg in expression.args if arg != -1)
    return sum(_numbers(arg) for arg in expression.args)


def _applied(expression) -> int:
    return sum(1 for node in sympy.preorder_traversal(expression) if isinstance(node, sympy.Function))


def _is_decimal(text: str) -> bool:
    return "." in text and read_number(text) is not None


def _irrational(text: str) -> bool:
    """A truth that is a number but no rational one (\\pi, \\frac{\\sqrt{2}}{2}); False when unsure."""
    if read_number(text) is not None or _too_costly(text):
        return False
    try:
        return any(
            isinstance(value, sympy.Expr) and value.is_number and value.is_rational is False
            for value in _parse_cached(text)
        )
    except Exception:  # sympy's assumptions raise anything on odd input
        return False


_INEQUALITY = re.compile(
    r"^(?P<low>[^<>]+?)(?P<left><|\\lt|\\leq?|\u2264)\s*[a-zA-Z]\s*(?P<right><|\\lt|\\leq?|\u2264)(?P<high>[^<>]+)$"
)
_LESS, _GREATER = r"<=?|\\lt|\\leq?|\\leqslant|\u2264", r">=?|\\gt|\\geq?|\\geqslant|\u2265"
# Matched on the text with its whitespace runs collapsed: one optional space where `\s*` stood, so that no run of
# whitespace is rescanned from every position of the lazy bound (that pattern took 3.4 s on 20,000 spaces)
_ONE_SIDED = re.compile(
    rf"^(?:[a-zA-Z] ?(?P<op>{_LESS}|{_GREATER})(?![a-zA-Z]) ?(?P<bound>[^<>=]+)"
    rf"|(?P<bound_first>[^<>=]+?) ?(?P<op_first>{_LESS}|{_GREATER})(?![a-zA-Z]) ?[a-zA-Z])$"
)
_MEMBER = re.compile(r"^[a-zA-Z]\s*\\in(?![a-zA-Z])\s*(?P<set>[(\[].*[)\]]|\\\{.*\\\})$")


def _as_interval(text: str) -> str:
    """An inequality in one variable as the interval it describes: `1<x\\le 3` is `(1,3]`, `x > 1` and `1 < x` are
    `(1,\\infty)`, `x \\le -2` is `(-\\infty,-2]`, `x \\in (1, 2)` is `(1, 2)`; anything else unchanged."""
    text = text.strip()
    member = _MEMBER.match(text)
    if member:
        return member["set"].strip()
    match = _INEQUALITY.match(text)
    if match is not None:
        opening = "(" if match["left"] in ("<", "\\lt") else "["
        closing = ")" if match["right"] in ("<", "\\lt") else "]"
        return f"{opening}{match['low'].strip()},{match['high'].strip()}{closing}"
    match = _ONE_SIDED.match(re.sub(r"\s+", " ", text))
    if match is None:
        return text
    bound, op = (match["bound"], match["op"]) if match["op"] else (match["bound_first"], match["op_first"])
    bound = bound.strip()
    if not bound or re.search(r"[a-zA-Z]", re.sub(r"\\[a-zA-Z]+", "", bound)):
        return text  # a bound with a variable in it (`a < b`) is a relation, not an interval
    strict = op in ("<", ">", "\\lt", "\\gt")
    above = bool(re.fullmatch(_GREATER if match["op"] else _LESS, op))  # `1 < x`: x is above its bound
    if above:
        return f"{'(' if strict else '['}{bound},\\infty)"
    return f"(-\\infty,{bound}{')' if strict else ']'}"


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


def _quick_verdict(truth: str, answer: str) -> bool | None:
    """The verdict math-verify would reach, when it is certain without parsing LaTeX (its ANTLR parser costs ~25 ms
    per new expression): equal strings, and numbers or tuples/intervals of numbers. None: ask math-verify."""
    if truth == answer:
        return True
    if _INTEGER.match(truth) and _INTEGER.match(answer):
        return _integer_key(truth) == _integer_key(answer)
    gold, predicted = read_number(truth), read_number(answer)
    if gold is not None and predicted is not None:
        return gold == predicted  # exactly: math-verify's rounding to 6 decimals took 0.5000001 for 0.5
    gold_items, predicted_items = _bracketed(truth), _bracketed(answer)
    if gold_items is None or predicted_items is None:
        return None
    if gold_items[0] != predicted_items[0] or len(gold_items[1]) != len(predicted_items[1]):
        return False
    verdicts = [_quick_verdict(g, p) for g, p in zip(gold_items[1], predicted_items[1])]
    if False in verdicts:
        return False
    return True if all(verdicts) else None


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
