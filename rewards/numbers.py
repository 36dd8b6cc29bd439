"""One reader for numbers as people and models write them, shared by the gsm8k, math, string_match and tool_call
verifiers: a form one of them reads, all of them read, and a sign none of them drops.

`read_number(text)` is the exact value (a Fraction) of a text that is one number and nothing else; `numbers_in(text)`
finds every number in running text. What counts as a number:
    signs      "-" and "+", and every Unicode minus and dash used as one (U+2010-U+2015, U+2212, U+FE58, U+FE63,
               U+FF0D): read as nothing they would turn -5 into 5. A dash after a digit or letter is a range or a
               hyphen ("3–5", "x-5"), not a sign.
    digits     grouped by thousands with ",", "{,}", "\\,", a thin or no-break space ("1,234", "1{,}234",
               "1\\,234", "1 234" where the whole text is the number), decimals (".5", "2.50"), repeating decimals
               ("0.\\overline{3}"), scientific notation ("1.5e3", "1.5 \\times 10^{3}", "1.5×10^3")
    fractions  "3/4", "\\frac{3}{4}" (and \\dfrac, \\tfrac), "½", mixed numbers ("2½", "2 1/2", "2\\frac{1}{2}")
    currency   a leading "$", "€", "£"
`number_words_in(text)` finds cardinal numbers written in English words ("eighteen", "twenty-one", "one hundred and
five"; valued by text2num): not an answer a verifier reads, but an alternative offered beside one ("17 or eighteen").
Exponents are capped (|e| <= 400) so a value never costs more than a few hundred digits.
"""

from __future__ import annotations

import re
from fractions import Fraction

from text_to_num import text2num

from rewards.text_utils import revealed_letters

MINUS_SIGNS = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_TO_ASCII = str.maketrans({**{sign: "-" for sign in MINUS_SIGNS}, "\uff0b": "+", "\u00d7": "\\times "})
_VULGAR = {
    "½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5), "⅖": (2, 5), "⅗": (3, 5),
    "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅐": (1, 7), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8), "⅞": (7, 8),
    "⅑": (1, 9), "⅒": (1, 10),
}  # fmt: skip
_MAX_EXPONENT = 400
_GROUP = r"(?:,|\{,\}|\\,|[\u2009\u202f\u00a0])"
_DIGITS = rf"(?:\d{{1,3}}(?:{_GROUP}\d{{3}})+(?!\d)|\d+)"
_UNSIGNED = (
    rf"(?:(?P<whole>{_DIGITS})?\s*(?:(?P<vulgar>[{''.join(_VULGAR)}])"
    rf"|\\[dt]?frac\{{(?P<fnum>\d+)\}}\{{(?P<fden>\d+)\}})"  # mixed numbers and fractions
    rf"|(?:(?P<whole2>\d+)\s+)?(?P<num>{_DIGITS})\s*/\s*(?P<den>\d+)(?![\d.])"
    rf"|(?=\.?\d)(?P<int>{_DIGITS})?(?:\.(?P<frac>\d*)(?:\\overline\{{(?P<repeat>\d+)\}})?)?"
    rf"(?:[eE](?P<exp>[-+]?\d+)|\s*(?:\\times|\\cdot|\*)\s*10\s*(?:\^|\*\*)\s*\{{?(?P<exp10>[-+]?\d+)\}}?)?)"
)
_NUMBER = re.compile(
    rf"(?=[-+$€£.\d\\{''.join(_VULGAR)}])(?P<sign>[-+])?(?P<currency>[$€£])?(?P<sign2>[-+])?{_UNSIGNED}"
)  # (the lookahead rejects most positions of running text at their first character)
_SIGN_CONTEXT = re.compile(r"[\w.]")


def ascii_signs(text: str) -> str:
    """Every Unicode minus and dash as "-" (and × as \\times): what the other readers here expect."""
    return text.translate(_TO_ASCII)


def read_number(text: str) -> Fraction | None:
    """The exact value of `text` when it is one number and nothing else (spaces around it aside), else None."""
    text = ascii_signs(text).strip()
    if re.fullmatch(r"[-+]?[$€£]?\d{1,3}(?: \d{3})+", text):
        text = text.replace(" ", "")  # "1 234": a space groups thousands only where the text is the number
    match = _NUMBER.fullmatch(text)
    return _value(match) if match else None


def numbers_in(text: str) -> list[tuple[int, int, Fraction]]:
    """(start, end, value) of every number in running text, left to right."""
    text = ascii_signs(text)
    found = []
    for match in _NUMBER.finditer(text):
        value = _value(match)
        if value is None:
            continue
        start = match.start()
        if match["sign"] and start > 0 and _SIGN_CONTEXT.match(text[start - 1]):
            # "3-5", "x-5": a range or a hyphen, not a sign
            value, start = abs(value) if match["sign"] == "-" and not match["sign2"] else value, start + 1
        found.append((start, match.end(), value))
    return found


_UNIT_WORDS = (
    "zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen"
    "|seventeen|eighteen|nineteen"
)
_TENS_WORDS = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
_NUMBER_WORD = rf"(?:(?:{_TENS_WORDS})(?:[-\s]?(?:{_UNIT_WORDS}))?|{_UNIT_WORDS}|hundred|thousand|million|billion)"
# A number word stands alone: a letter of any script beside it makes it part of another word ("somеone" with a
# Cyrillic "е" holds no "one")
_ONE_NUMBER_WORD = re.compile(rf"(?<![^\W\d_]){_NUMBER_WORD}(?![^\W\d_])", re.I)
_NUMBER_WORDS = re.compile(rf"(?<![^\W\d_]){_NUMBER_WORD}(?:(?:\s+and\s+|[-\s]+){_NUMBER_WORD})*(?![^\W\d_])", re.I)


_GLUE_REACH = 8  # invisible characters passed over, each side of a number word


def number_words_in(text: str) -> list[tuple[int, int, Fraction]]:
    """(start, end, value) of every cardinal number written in words, left to right ("Eighteen", "twenty-one",
    "one hundred and five"). A run of words that is no one number ("one two") is read word by word."""
    found = []
    for match in _NUMBER_WORDS.finditer(text):
        value = _worded(match.group(0))
        if value is not None:
            found.append((match.start(), match.end(), value))
            continue
        for word in _ONE_NUMBER_WORD.finditer(match.group(0)):  # "twenty-one and twelve": each number by itself
            value = _worded(word.group(0))
            if value is not None:
                found.append((match.start() + word.start(), match.start() + word.end(), value))
    return [value for value in found if not _inside_a_word(text, value[0], value[1])]


def _inside_a_word(text: str, start: int, end: int) -> bool:
    """A letter beside `text[start:end]` once the characters that render as nothing are passed over: "some\u200bone"
    is one word to a reader and holds no "one"."""
    before = revealed_letters(text[max(0, start - _GLUE_REACH) : start])
    after = revealed_letters(text[end : end + _GLUE_REACH])
    return before[-1:].isalpha() or after[:1].isalpha()


def _worded(words: str) -> Fraction | None:
    try:
        return Fraction(text2num(re.sub(r"[-\s]+", " ", words.lower()), "en"))
    except ValueError:
        return None


def values_in(text: str) -> list[tuple[int, int, Fraction]]:
    """`numbers_in` and `number_words_in` together, left to right: every value a reader sees in the text (positions in
    `ascii_signs(text)`, as `numbers_in` gives them)."""
    text = ascii_signs(text)
    return sorted(numbers_in(text) + number_words_in(text))


_LAST_NUMBER_WINDOW = 256


def last_numbers(text: str) -> list[tuple[int, int, Fraction]]:
    """(start, end, value) of the numbers in the window around the last digit, positions in `text` (a text already
    in `ascii_signs`, which can change lengths): the last number and those just before it, what the end of
    `numbers_in(text)` gives, reading only that window."""
    end = max(text.rfind(character) for character in "0123456789" + "".join(_VULGAR))
    if end < 0:
        return []
    start = max(0, end - _LAST_NUMBER_WINDOW)
    while start > 0 and not text[start - 1].isspace():
        start -= 1  # never cut into the number: widen to the start of a word
    return [(start + a, start + b, value) for a, b, value in numbers_in(text[start : end + _LAST_NUMBER_WINDOW])]


def _value(match: re.Match) -> Fraction | None:
    if match["vulgar"] or match["fnum"]:
        part = Fraction(*_VULGAR[match["vulgar"]]) if match["vulgar"] else _fraction(match["fnum"], match["fden"])
        if part is None:
            return None
        value = _integer(match["whole"]) + part if match["whole"] else part
    elif match["num"]:
        value = _fraction(_integer(match["num"]), match["den"])
        if value is None:
            return None
        if match["whole2"]:
            value += _integer(match["whole2"])
    elif match["int"] is not None or match["frac"]:
        value = _decimal(match["int"] or "0", match["frac"] or "", match["repeat"] or "")
        exponent = match["exp"] or match["exp10"]
        if exponent is not None:
            if abs(int(exponent)) > _MAX_EXPONENT:
                return None
            value *= Fraction(10) ** int(exponent)
    else:
        return None
    negative = (match["sign"] == "-") != (match["sign2"] == "-")
    return -value if negative else value


_NON_DIGITS = re.compile(r"\D")


def _integer(digits) -> int:
    digits = str(digits)
    return int(digits) if digits.isdigit() else int(_NON_DIGITS.sub("", digits))


def _fraction(numerator, denominator) -> Fraction | None:
    denominator = int(denominator)
    return Fraction(int(numerator), denominator) if denominator else None


def _decimal(whole: str, fraction: str, repeat: str) -> Fraction:
    if not fraction and not repeat:
        return Fraction(_integer(whole))
    value = Fraction(_integer(whole)) + (Fraction(int(fraction), 10 ** len(fraction)) if fraction else 0)
    if repeat:  # 0.1\overline{6} = 0.1 + 6 / (9 * 10)
        value += Fraction(int(repeat), (10 ** len(repeat) - 1) * 10 ** len(fraction))
    return value
