"""The IFEval-like constraints of Tülu 3's RLVR data (allenai/RLVR-GSM-MATH-IF-Mixed-Constraints).

Their ground truth is a JSON object naming one check, with every possible argument present and the unused ones null:
    {"func_name": "verify_keyword_frequency", "word": "ocean", "N": 3, "quantifier": null, ...}
The prompts of that data were written for these semantics (e.g. "should appear N times" means exactly N, quantifiers
"at least" / "around" / "at most"), which differ from Google's IFEval in places, so they are checked as written here
rather than mapped onto the Google checks. The response is stripped first. These are the reference, farmable as
Google's is (`<<>>` is a title); the RL reward adds its substance checks on top (`ifeval.TULU_SUBSTANCE_CHECKS`). The
title and placeholder checks scan in linear time (`text_utils.pairs_on_a_line`) where open-instruct's patterns are
quadratic.
"""

from __future__ import annotations

import inspect
import json
import re

from rewards.text_utils import count_sentences, detect_language, pairs_on_a_line


def check(response: str, spec: dict) -> bool:
    found = arguments(spec)  # first: it names an unknown check
    return bool(CHECKS[spec["func_name"]](response.strip(), **found))


def arguments(spec: dict) -> dict:
    """The non-null arguments of the row's check, by name; ValueError for an unknown check or a missing argument."""
    name = spec.get("func_name")
    if name not in CHECKS:
        raise ValueError(f"unknown Tülu IFEval function {name!r}")
    parameters = list(inspect.signature(CHECKS[name]).parameters)[1:]
    found = {key: spec[key] for key in parameters if spec.get(key) is not None}
    missing = set(parameters) - set(found)
    if missing:
        raise ValueError(f"{name}: missing arguments {sorted(missing)}")
    return found


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


def keyword_count(text, word) -> int:
    """Uses of `word` as this reference counts them: whole words, any case."""
    return re.findall(r"\b\w+\b", text.lower()).count(word.lower())


def _keyword_frequency(text, word, N):
    return keyword_count(text, word) == N


def _forbidden_words(text, forbidden_words):
    return not any(word.lower() in text.lower() for word in forbidden_words)


def _letter_frequency(text, letter, N):
    if len(letter) != 1:
        raise ValueError(f"letter must be a single character, got {letter!r}")
    return text.count(letter) == N  # case-sensitive, as the prompts of this data were scored


def _response_language(text, language):
    return detect_language(text) == language


def divided_paragraphs(text) -> list[str]:
    """The paragraphs of `verify_paragraph_count`: separated by the markdown divider `* * *`."""
    return "\n".join(line.strip() for line in text.splitlines()).strip().split("* * *")


def _paragraph_count(text, N):
    paragraphs = divided_paragraphs(text)
    return all(paragraph.strip() for paragraph in paragraphs) and len(paragraphs) == N


def _word_constraint(text, N, quantifier):
    return word_count_met(len(text.split()), N, quantifier)


def word_count_met(count: int, N: int, quantifier: str) -> bool:
    return _quantified(count, N, quantifier, around=max(round(N * 0.1), 1))


def _sentence_constraint(text, N, quantifier):
    return sentence_count_met(count_sentences(text), N, quantifier)


def sentence_count_met(count: int, N: int, quantifier: str) -> bool:
    return _quantified(count, N, quantifier, around=1)


def _paragraphs(text, N, first_word, i):
    paragraphs = text.split("\n\n")
    return len(paragraphs) == N and 1 <= i <= N and paragraphs[i - 1].strip().startswith(first_word)


def _postscript(text, postscript_marker):
    index = text.find(postscript_marker)
    return index >= 0 and len(text[index:].strip()) > len(postscript_marker)


def _placeholders(text, N):
    return len(pairs_on_a_line(text, "[", "]")) >= N


def bullet_lines(text) -> list[str]:
    """The lines `verify_bullet_points` counts: those starting with `*` or `-`."""
    return [line.strip() for line in text.split("\n") if line.strip().startswith(("*", "-"))]


def _bullet_points(text, N):
    return len(bullet_lines(text)) == N


def _title(text):
    return bool(pairs_on_a_line(text, "<<", ">>"))


def _choice(text, options):
    return any(option in text for option in options)


def _highlighted_sections(text, N):
    return len(re.findall(r"\*(.*?)\*", text)) >= N


def sections(text, section_splitter) -> list[str]:
    """The texts after each numbered header ("Section 1", "SECTION 2", ...)."""
    return re.split(r"\s?" + re.escape(section_splitter) + r"\s?\d+\s?", text, flags=re.I)[1:]


def _sections(text, N, section_splitter):
    return len(sections(text, section_splitter)) >= N


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
    return word_count_met(len(re.findall(r"\b[A-Z]+\b", text)), N, quantifier)


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
