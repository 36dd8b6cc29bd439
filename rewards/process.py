"""Process reward: a ground-truth-free step checker for worked arithmetic.

    check_steps(problem, response) -> list[Step]      every equation the response writes, judged
    process_score(problem, response) -> float in [0, 1]
    problem_text(prompt) -> str                       the problem of a chat prompt (its last user turn)

A step is an equation chain whose sides are plain arithmetic: "10 - 9 = 1", "$7 \\cdot 3 - 5 = 21 - 5 = 16$",
"$\\frac{4}{7} + \\frac{3}{4} = \\frac{37}{28}$" (LaTeX products, quotients and fractions are read; an equation with a
variable, "4x + 9 = 37", is not a step). A step is credited when all of these hold:

- true: every side has the same exact (rational) value;
- grounded: every number written on its first side appears in the problem or is the result of an earlier step;
- new: it is not an identity (its result is one of its own operands, by a 0 or a 1: "9 * 1 = 9") and its result
  is not one an earlier step already computed (a repeat, "4 * 7 = 28" after "7 * 4 = 28", or a detour back to a
  value: "9 + 9 = 18. 18 - 9 = 9");
- used: its result is a number of the stated final answer, or an operand of a later credited step that is (the
  dependency path back from the answer).

The score is credited steps / all steps, 0 for a response that writes none: it never exceeds what one good step
earns, so a response padded with true equations (identities, repeats, arithmetic on numbers of its own, results it
never uses) scores less than the same response without them, never more. It reads only the problem and the
response: no ground truth, so it can rank samples (best-of-N) and shape the RL reward. It does not judge whether the
final answer is right -- that is the outcome verifier's job.

Bounded work on adversarial text: the response is read up to MAX_CHARS, at most MAX_STEPS equations are checked,
sides longer than MAX_SIDE characters are not steps, and a side rewards/arithmetic.py will not reduce (exponents
above 10, numbers over 60 digits) is unreadable. Nothing is `eval`ed: sides are parsed with `ast` and reduced over
`fractions.Fraction`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from rewards.answers import last_boxed
from rewards.arithmetic import evaluate
from rewards.numbers import ascii_signs

MAX_CHARS = 20_000
MAX_STEPS = 64
MAX_SIDE = 200

# Words a word problem uses for numbers its solution then writes in digits ("twice" -> "* 2").
NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "twice": 2, "double": 2, "half": 2, "triple": 3, "thrice": 3, "dozen": 12,
}  # fmt: skip


@dataclass(frozen=True)
class Step:
    text: str  # the equation as written (normalised)
    true: bool
    grounded: bool
    new: bool
    used: bool

    @property
    def credited(self) -> bool:
        return self.true and self.grounded and self.new and self.used


def problem_text(prompt: str | list[dict]) -> str:
    """The problem a response answers: the last user turn of a conversation, or the prompt itself."""
    if isinstance(prompt, str):
        return prompt
    return next((message["content"] for message in reversed(prompt) if message["role"] == "user"), "")


def process_score(problem: str, response: str) -> float:
    """Credited steps / steps of the response (0 without any): see the module docstring."""
    steps = check_steps(problem, response)
    return sum(step.credited for step in steps) / len(steps) if steps else 0.0


def check_steps(problem: str, response: str) -> list[Step]:
    response = response[:MAX_CHARS]
    words = {Fraction(value) for word, value in NUMBER_WORDS.items() if re.search(rf"\b{word}\b", problem, re.I)}
    known = set(_literals(problem)) | words
    raw = []  # (text, true, operands, result), in order
    for chain in _equation_chains(_normalise(_without_final_answer(response))):
        if len(raw) == MAX_STEPS:
            break
        values = [_value(side) for side in chain]
        if values[0] is None or not _has_operator(chain[0]):
            continue  # "9 = 9", "x = 7": not arithmetic written out
        operands = _literals(chain[0])
        result = values[-1]
        true = all(v is not None and v == values[0] for v in values)
        raw.append((" = ".join(chain), true, operands, result))

    # Forward: grounded in the problem or earlier results; new (not an identity, not a repeat).
    judged, computed = [], set()
    for text, true, operands, result in raw:
        grounded = all(number in known for number in operands)
        identity = result in operands and any(number in (0, 1) for number in operands)  # "9 * 1 = 9", "9 + 0 = 9"
        new = not identity and result not in computed
        computed.add(result)
        judged.append([text, true, grounded, new, operands, result])
        if true and result is not None:
            known.add(result)

    # Backward: on the dependency path from the stated answer.
    needed = set(_answer_numbers(response))
    used = [False] * len(judged)
    for index in range(len(judged) - 1, -1, -1):
        text, true, grounded, new, operands, result = judged[index]
        if result in needed:
            used[index] = True
            if true and grounded and new:
                needed.update(operands)
    return [Step(text, true, grounded, new, used[i]) for i, (text, true, grounded, new, *_) in enumerate(judged)]


# --------------------------------------------------------------------------------------------------------------
# Reading equations

_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_LATEX_OPERATORS = {
    r"\cdot": "*", r"\times": "*", "×": "*", "·": "*", r"\div": "/", "÷": "/", r"\left": "", r"\right": "",
    r"\,": "", r"\!": "", r"\;": "", "{": "(", "}": ")", "$": " ", r"\(": " ", r"\)": " ", r"\[": " ", r"\]": " ",
}  # fmt: skip
_CLAUSE_END = re.compile(r"\.(?=\s|$)|[,;:!?\n]|\b(?:and|so|then)\b", re.I)
_ARITHMETIC = frozenset("0123456789 \t.+-*/^()")
_GLUED = re.compile(r"[A-Za-z_\\^]")


def _normalise(text: str) -> str:
    text = ascii_signs(text)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,000 -> 1000
    for _ in range(4):  # nested \frac
        text = _FRAC.sub(r"((\1)/(\2))", text)
    for latex, plain in _LATEX_OPERATORS.items():
        text = text.replace(latex, plain)
    return text


def _equation_chains(text: str) -> list[list[str]]:
    """The equation chains of the text, as lists of sides; a chain glued to a variable or a word is skipped.

    One pass over each clause split at "=": a side is the run of arithmetic characters next to an "=" (a regular
    expression of nested runs would backtrack cubically on a long run of digits: an adversary's cheapest stall)."""
    chains = []
    for clause in _CLAUSE_END.split(text):
        parts = clause.split("=")
        i = 0
        while i < len(parts) - 1:
            left = _arithmetic_run(parts[i], from_end=True)
            j = i + 1
            while j < len(parts) - 1 and _is_side(parts[j]) and len(parts[j]) == len(_arithmetic_run(parts[j])):
                j += 1  # a whole part of arithmetic between two "=": the chain goes on
            right = _arithmetic_run(parts[j])
            sides_raw = [left, *parts[i + 1 : j], right]
            before, after = parts[i][: len(parts[i]) - len(left)].rstrip(), parts[j][len(right) :].lstrip()
            i = j if _is_side(left) else i + 1
            if not all(_is_side(side) for side in sides_raw):
                continue
            sides = [side.strip() for side in sides_raw]
            if not re.match(r"-?[\d(]", sides[0]) or not re.search(r"[\d)]$", sides[-1]):
                continue  # "4x + 9 = 37" read from "+ 9": the chain goes on into a variable
            if before and (before[-1] in "+-*/^(=" or (_GLUED.match(before[-1]) and not left.startswith(" "))):
                continue  # "2x = 10": glued to a variable
            if after and (after[0] in "+-*/^(=" or (_GLUED.match(after[0]) and not right.endswith(" "))):
                continue  # "28 = 4x"
            if all(len(side) <= MAX_SIDE for side in sides):
                chains.append(sides)
    return chains


def _arithmetic_run(text: str, from_end: bool = False) -> str:
    """The longest run of arithmetic characters at the start (or the end) of the text."""
    count = 0
    for char in reversed(text) if from_end else text:
        if char not in _ARITHMETIC:
            break
        count += 1
    return text[len(text) - count :] if from_end else text[:count]


def _is_side(text: str) -> bool:
    return any(char.isdigit() for char in text)


def _has_operator(side: str) -> bool:
    return bool(re.search(r"\d\s*[-+*/^]\s*[\d(]|\)\s*[-+*/^]", side))


def _literals(text: str) -> list[Fraction]:
    """The numbers written in the text (normalised like the equations), as exact values."""
    return [Fraction(token) for token in re.findall(r"\d+(?:\.\d+)?", _normalise(text))]


def _value(side: str) -> Fraction | None:
    try:
        return evaluate(side)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------------------------
# The stated final answer

_ANSWER_IS = re.compile(r"answer is|####", re.I)


def _final_answer_text(response: str) -> str | None:
    boxed = last_boxed(response)
    if boxed is not None:
        return boxed
    parts = _ANSWER_IS.split(response)
    if len(parts) > 1:
        return re.split(r"\.(?=\s|$)|\n", parts[-1], maxsplit=1)[0]
    return None


_SENTENCE_END = re.compile(r"\.(?=\s|$)|\n")


def _without_final_answer(response: str) -> str:
    """The working: the response without its final-answer sentence (an equation there is the answer, not a step).
    Working written after the answer ("The answer is 16. Here is why: ...") counts like working before it."""
    starts = [match.start() for match in _ANSWER_IS.finditer(response)]
    markers = [at for at in (starts[-1] if starts else -1, response.rfind("\\boxed")) if at >= 0]
    if not markers:
        return response
    end = _SENTENCE_END.search(response, max(markers))
    return response[: min(markers)] + "\n" + (response[end.end() :] if end else "")


def _answer_numbers(response: str) -> list[Fraction]:
    """The stated answer's value, and a fraction's numerator and denominator as written and reduced: the numbers its
    last steps compute. Never more: an answer that lists many numbers must not make every step "used"."""
    text = _final_answer_text(response)
    if text is None:
        return []
    literals = _literals(text)
    value = _value(_normalise(text).strip().rstrip(".")) if len(text) <= MAX_SIDE else None
    if value is None:
        return literals[:1]
    written = literals if len(literals) <= 2 else []
    return [value, Fraction(value.numerator), Fraction(value.denominator), *written]
