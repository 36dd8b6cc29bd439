"""The IFEval-like constraints of Tülu 3's RLVR data (allenai/RLVR-GSM-MATH-IF-Mixed-Constraints).

Their ground truth is a JSON object naming one check, with every possible argument present and the unused ones null:
    {"func_name": "verify_keyword_frequency", "word": "ocean", "N": 3, "quantifier": null, ...}
The prompts of that data were written for these semantics (e.g. "should appear N times" means exactly N, quantifiers
"at least" / "around" / "at most"), which differ from Google's IFEval in places, so they are checked as written here
rather than mapped onto the Google checks. The response is stripped first.
"""

from __future__ import annotations

import inspect
import json
import re

from rewards.text_utils import count_sentences, detect_language


def check(response: str, spec: dict) -> bool:
    name = spec.get("func_name")
    if name not in CHECKS:
        raise ValueError(f"unknown Tülu IFEval function {name!r}")
    function = CHECKS[name]
    parameters = list(inspect.signature(function).parameters)[1:]
    arguments = {key: spec[key] for key in parameters if spec.get(key) is not None}
    missing = set(parameters) - set(arguments)
    if missing:
        raise ValueError(f"{name}: missing arguments {sorted(missing)}")
    return bool(function(response.strip(), **arguments))


def _quantified(count: int, N: int, quantifier: str, around: int) -> bool:
    if quantifier == "at least":
        return count >= N
    if quantifier == "at most":
        return count <= N
    if quantifier == "around":
        return abs(count - N) <= around
    raise ValueError(f"quantifier must be 'at least', 'around' or 'at most', got {quantifier!r}")


def _keywords(text, keyword_list):
    return all(keyword.lower() in text.lower() for keyword in keyword_list)


def _keyword_frequency(text, word, N):
    return re.findall(r"\b\w+\b", text.lower()).count(word.lower()) == N


def _forbidden_words(text, forbidden_words):
    return not any(word.lower() in text.lower() for word in forbidden_words)


def _letter_frequency(text, letter, N):
    if len(letter) != 1:
        raise ValueError(f"letter must be a single character, got {letter!r}")
    return text.count(letter) == N  # case-sensitive, as the prompts of this data were scored


def _response_language(text, language):
    return detect_language(text) == language


def _paragraph_count(text, N):
    text = "\n".join(line.strip() for line in text.splitlines()).strip()
    paragraphs = text.split("* * *")
    return all(paragraph.strip() for paragraph in paragraphs) and len(paragraphs) == N


def _word_constraint(text, N, quantifier):
    return _quantified(len(text.split()), N, quantifier, around=max(round(N * 0.1), 1))


def _sentence_constraint(text, N, quantifier):
    return _quantified(count_sentences(text), N, quantifier, around=1)


def _paragraphs(text, N, first_word, i):
    paragraphs = text.split("\n\n")
    return len(paragraphs) == N and 1 <= i <= N and paragraphs[i - 1].strip().startswith(first_word)


def _postscript(text, postscript_marker):
    index = text.find(postscript_marker)
    return index >= 0 and len(text[index:].strip()) > len(postscript_marker)


def _placeholders(text, N):
    return len(re.findall(r"\[(.*?)\]", text)) >= N


def _bullet_points(text, N):
    return sum(1 for line in text.split("\n") if line.strip().startswith(("*", "-"))) == N


def _title(text):
    return bool(re.search(r"<<(.*?)>>", text))


def _choice(text, options):
    return any(option in text for option in options)


def _highlighted_sections(text, N):
    return len(re.findall(r"\*(.*?)\*", text)) >= N


def _sections(text, N, section_splitter):
    pattern = r"\s?" + re.escape(section_splitter) + r"\s?\d+\s?"
    return len(re.split(pattern, text, flags=re.I)) - 1 >= N


def _json_format(text):
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _repeat_prompt(text, original_prompt):
    return text.startswith(original_prompt.strip())


def _two_responses(text):
    parts = text.split("******")
    return len(parts) == 2 and parts[0].strip() != parts[1].strip()


def _uppercase(text):
    return text == text.upper()


def _lowercase(text):
    return text == text.lower()


def _capital_words(text, N, quantifier):
    return _quantified(len(re.findall(r"\b[A-Z]+\b", text)), N, quantifier, around=max(round(N * 0.1), 1))


def _end(text, end_phrase):
    return text.endswith(end_phrase.strip())


def _quotation(text):
    return len(text) > 1 and text.startswith('"') and text.endswith('"')


def _no_commas(text):
    return "," not in text


CHECKS = {
    "verify_keywords": _keywords,
    "verify_keyword_frequency": _keyword_frequency,
    "validate_forbidden_words": _forbidden_words,
    "verify_letter_frequency": _letter_frequency,
    "validate_response_language": _response_language,
    "verify_paragraph_count": _paragraph_count,
    "validate_word_constraint": _word_constraint,
    "verify_sentence_constraint": _sentence_constraint,
    "validate_paragraphs": _paragraphs,
    "verify_postscript": _postscript,
    "validate_placeholders": _placeholders,
    "verify_bullet_points": _bullet_points,
    "validate_title": _title,
    "validate_choice": _choice,
    "validate_highlighted_sections": _highlighted_sections,
    "validate_sections": _sections,
    "validate_json_format": _json_format,
    "validate_repeat_prompt": _repeat_prompt,
    "validate_two_responses": _two_responses,
    "validate_uppercase": _uppercase,
    "validate_lowercase": _lowercase,
    "validate_frequency_capital_words": _capital_words,
    "validate_end": _end,
    "validate_quotation": _quotation,
    "validate_no_commas": _no_commas,
}
