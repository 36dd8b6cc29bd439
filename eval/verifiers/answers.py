"""Final-answer extraction shared by the answer verifiers (gsm8k, math, string_match)."""

from __future__ import annotations

import re
import string

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")
_NUMBER = re.compile(r"-?\$?-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\$?-?\.\d+")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
UNICODE_MINUS = "\u2212"


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
                return text[start + 1:index].strip()
    return None  # unbalanced: a truncated answer is no answer


def numbers(text: str) -> list[str]:
    """Every number in the text, `$` and thousands separators removed: "$1,234.50" -> "1234.50". The Unicode minus
    sign (U+2212, "−5") is a minus: read as nothing, it would turn -5 into 5."""
    found = []
    for match in _NUMBER.finditer(text.replace(UNICODE_MINUS, "-")):
        token = match.group(0).replace("$", "").replace(",", "")
        found.append("-" + token.replace("-", "") if "-" in token else token)
    return found


def normalize_text(text: str) -> str:
    """SQuAD-style normalisation: lower case, no punctuation, no articles, single spaces."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION))
    return " ".join(text.split())
