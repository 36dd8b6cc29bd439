"""Final-answer extraction shared by the answer verifiers (gsm8k, math, string_match)."""

from __future__ import annotations

import re
import string

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")
_NUMBER = re.compile(r"-?\$?-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\$?-?\.\d+")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
# Minus signs other than "-": MINUS SIGN, FULLWIDTH HYPHEN-MINUS, SMALL HYPHEN-MINUS. Read as nothing, they would
# turn -5 into 5.
_MINUS_SIGNS = str.maketrans({"\u2212": "-", "\uff0d": "-", "\ufe63": "-"})


def ascii_minus(text: str) -> str:
    return text.translate(_MINUS_SIGNS)


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (or `\\fbox{...}`), nested braces included; `\\boxed 5` works too."""
    matches = list(_BOXED.finditer(text))
    if not matches:
        return None
    start = matches[-1].end()
    if start >= len(text):
        return None
    if text[start] != "{":
        token = re.match(r"[^\s$]+", text[start:])
        return token.group(0) if token else None
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : index].strip()
    return None  # unbalanced: a truncated answer is no answer


def numbers(text: str) -> list[str]:
    """Every number in the text, `$` and thousands separators removed: "$1,234.50" -> "1234.50"; "−5" is -5."""
    found = []
    for match in _NUMBER.finditer(ascii_minus(text)):
        token = match.group(0).replace("$", "").replace(",", "")
        found.append("-" + token.replace("-", "") if "-" in token else token)
    return found


def normalize_text(text: str) -> str:
    """SQuAD-style normalisation: lower case, no punctuation, no articles, single spaces."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION))
    return " ".join(text.split())
