"""`ifeval` verifier: the 25 instruction types of Google's IFEval, strict and loose; score = fraction followed.

Ground truth, any of (as a dict/list or its JSON / Python-literal string):
    {"instruction_id_list": [...], "kwargs": [{...}, ...]}      Google's IFEval (CONTRACTS.md)
    [{"instruction_id": [...], "kwargs": [...]}]                open-instruct's newer RLVR rows
    {"func_name": "validate_lowercase", "N": null, ...}          Tülu 3 RLVR rows (see ifeval_tulu.py)
Keyword arguments that are None are ignored, as in Google's code. Unknown ids or missing arguments are errors.

The checks follow google-research/instruction_following_eval, with its tokenisation (punkt, nltk's word
tokenizer: text_utils.py); where they deliberately differ, the README's "IFEval" section lists how and why. Every
check is linear in the response's length.

`ifeval` is the reference, for evals. As an RL reward the reference is farmable (an empty `[]` is a placeholder,
`<<.>>` a title, `null` JSON, every constrained answer at once, a forbidden word hidden by a zero-width space):
`ifeval_strict` (`verify_strict`, the reward of RLVR's IFEval rows) is the reference's verdict AND the instruction
met on the text as a reader sees it (`revealed`: compatibility forms folded, invisible format characters removed,
look-alike letters mapped to Latin) and met in substance (`SUBSTANCE_CHECKS`; `TULU_SUBSTANCE_CHECKS` for Tülu 3's
rows): each part it asks for holds words, and a count is met by different parts, not by one said again.
"""

from __future__ import annotations

import ast
import collections
import functools
import json
import re
import unicodedata

import regex

from rewards import ifeval_tulu
from rewards.text_utils import (
    count_sentences,
    count_words,
    detect_language,
    folded,
    instances_apart,
    letters_as_read,
    novel_count,
    pairs_on_a_line,
    part_key,
    readings,
    revealed,
    sentences,
    sentences_as_read,
    without_copies,
    word_tokens,
    words_as_read,
)

_RELATIONS = ("less than", "at least")
_CONSTRAINED_RESPONSES = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


def verify(response: str, ground_truth) -> float:
    """Strict: the fraction of the instructions the response follows as it is."""
    followed = check_instructions(response, ground_truth)
    return sum(followed) / len(followed)


def verify_loose(response: str, ground_truth) -> float:
    """Loose (IFEval paper): an instruction counts as followed if some lightly cleaned variant of the response
    follows it (without its first and/or last line, without markdown `*`)."""
    followed = check_instructions(response, ground_truth, loose=True)
    return sum(followed) / len(followed)


def verify_strict(response: str, ground_truth, question: str | None = None) -> float:
    """The reference's strict verdict AND no degenerate satisfaction, per instruction: the RL reward. `question`: the
    prompt, when the caller has it; the instructions must then be met by what the response says of its own, not by
    what it copies from the prompt (`_own_words`)."""
    spec = _load(ground_truth)
    followed = check_instructions(response, spec)
    if isinstance(spec, dict) and "func_name" in spec:  # Tülu 3's checks read the stripped response
        name, arguments = spec["func_name"], ifeval_tulu.arguments(spec)
        seen = _own_words(revealed(response.strip()), question, [arguments])
        return float(
            followed[0]
            and seen is not None
            and _met_in_substance(ifeval_tulu.CHECKS, TULU_SUBSTANCE_CHECKS, seen, name, arguments)
        )
    instructions = _instructions(spec)
    seen = _own_words(revealed(response), question, [kwargs for _, kwargs in instructions])  # once for the row
    if seen is None:
        return 0.0
    substance = [
        verdict and _met_in_substance(INSTRUCTIONS, SUBSTANCE_CHECKS, seen, instruction_id, kwargs)
        for verdict, (instruction_id, kwargs) in zip(followed, instructions)
    ]
    return sum(substance) / len(substance)


def _own_words(seen: str, question: str | None, arguments: list[dict]) -> str | None:
    """`seen` without the runs of words it copies from the prompt (`without_copies`), where the prompt is known; None
    when nothing is left but what the instructions gave (a response with no words of its own meets no instruction).
    What an instruction gives the response to write stays its own where the instruction puts it: the end phrase at the
    end, the request to repeat at the start (each as its check reads it), and the options to choose from anywhere (the
    prompt is cut at them; an echo holds them all, which no check of a choice pays). The prompt holds what its
    instructions look for (the keywords, an example title, the end phrase), so an echo of it met them."""
    if not question:
        return seen
    question = revealed(question)
    options = list(_CONSTRAINED_RESPONSES)
    for kwargs in arguments:
        given = kwargs.get("options") or []
        options += [given] if isinstance(given, str) else [option for option in given if isinstance(option, str)]
    alternatives = "|".join(re.escape(option.strip()) for option in options if option.strip())
    pieces = re.split(alternatives, question, flags=re.I)
    head, body, tail = "", seen, ""
    for kwargs in arguments:
        request = revealed(kwargs.get("prompt_to_repeat") or kwargs.get("original_prompt") or "").strip()
        if request and body.strip().lower().startswith(request.lower()):
            cut = body.lower().index(request.lower()) + len(request)
            head, body = head + body[:cut], body[cut:]
        phrase = revealed(kwargs.get("end_phrase") or "").strip()
        ending = body.rstrip().rstrip('"').rstrip()
        if phrase and ending.lower().endswith(phrase.lower()):
            cut = len(ending) - len(phrase)
            body, tail = body[:cut], body[cut:] + tail
    own = without_copies(body, pieces)
    return head + own + tail if _has_words(own) else None


def check_instructions(response: str, ground_truth, loose: bool = False) -> list[bool]:
    """One verdict per instruction (prompt-level accuracy = all of them)."""
    spec = _load(ground_truth)
    if isinstance(spec, dict) and "func_name" in spec:
        return [ifeval_tulu.check(response, spec)]
    instructions = _instructions(spec)
    variants = _loose_variants(response) if loose else [response]
    return [
        any(variant.strip() and _follows(variant, instruction_id, kwargs) for variant in variants)
        for instruction_id, kwargs in instructions
    ]


def _load(ground_truth):
    if isinstance(ground_truth, str):
        try:
            return json.loads(ground_truth)
        except ValueError:
            pass
        try:
            return ast.literal_eval(ground_truth)  # open-instruct stores str(list_of_dicts)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise ValueError(
                f"ifeval ground truth is neither JSON nor a Python literal: {ground_truth[:80]!r}"
            ) from None
    return ground_truth


def _instructions(spec) -> list[tuple[str, dict]]:
    entries = spec if isinstance(spec, list) else [spec]
    instructions = []
    for entry in entries:
        if isinstance(entry, str):
            entry = _load(entry)
        ids = entry.get("instruction_id_list", entry.get("instruction_id")) if isinstance(entry, dict) else None
        kwargs_list = (entry.get("kwargs") or [{}] * len(ids)) if ids else None
        if not ids or len(ids) != len(kwargs_list):
            raise ValueError("ifeval ground truth needs instruction ids and one kwargs dict per id")
        for instruction_id, kwargs in zip(ids, kwargs_list):
            if instruction_id not in INSTRUCTIONS:
                raise ValueError(f"unknown IFEval instruction {instruction_id!r}")
            instructions.append((instruction_id, {k: v for k, v in (kwargs or {}).items() if v is not None}))
    return instructions


def _follows(response: str, instruction_id: str, kwargs: dict) -> bool:
    try:
        return bool(INSTRUCTIONS[instruction_id](response, **kwargs))
    except TypeError as error:
        raise ValueError(f"{instruction_id}: bad arguments {sorted(kwargs)} ({error})") from None


def _loose_variants(response: str) -> list[str]:
    lines = response.split("\n")
    without_first = "\n".join(lines[1:]).strip()
    without_last = "\n".join(lines[:-1]).strip()
    without_both = "\n".join(lines[1:-1]).strip()
    variants = [response, without_first, without_last, without_both]
    return variants + [variant.replace("*", "") for variant in variants]


def _compare(count: int, relation: str, threshold: int) -> bool:
    if relation not in _RELATIONS:
        raise ValueError(f"relation must be one of {_RELATIONS}, got {relation!r}")
    return count < threshold if relation == "less than" else count >= threshold


# ---------------------------------------------------------------------------------------------------------------
# The 25 checks: check(response, **kwargs) -> bool, with Google's argument names.


def _keywords_existence(response, *, keywords):
    return all(re.search(re.escape(keyword), response, re.I) for keyword in keywords)


def _keyword_count(response: str, keyword: str) -> int:
    """Uses of `keyword` as Google's reference counts them: any case, inside other words too."""
    return len(re.findall(re.escape(keyword.strip()), response, re.I))


def _keywords_frequency(response, *, keyword, frequency, relation):
    return _compare(_keyword_count(response, keyword), relation, frequency)


def _keywords_forbidden_words(response, *, forbidden_words):
    # Google's `\bword\b` never matches a word that starts or ends in a non-word character ("c++"): whole words are
    # what is meant, so the edges here are "no word character next to it".
    return not any(re.search(rf"(?<!\w){re.escape(word)}(?!\w)", response, re.I) for word in forbidden_words)


def _keywords_letter_frequency(response, *, letter, let_frequency, let_relation):
    letter = letter.strip().lower()
    if len(letter) != 1:
        raise ValueError(f"letter must be a single character, got {letter!r}")
    return _compare(collections.Counter(response.lower())[letter], let_relation, let_frequency)


def _language_response_language(response, *, language):
    detected = detect_language(response)
    return detected is None or detected == language


def _number_sentences(response, *, num_sentences, relation):
    return _compare(count_sentences(response), relation, num_sentences)


def _number_paragraphs(response, *, num_paragraphs):
    paragraphs = re.split(r"\s?\*\*\*\s?", response)
    count = len(paragraphs)
    for index, paragraph in enumerate(paragraphs):
        if not paragraph.strip():
            if index in (0, len(paragraphs) - 1):
                count -= 1
            else:
                return False  # an empty paragraph between two dividers
    return count == num_paragraphs


def _number_words(response, *, num_words, relation):
    return _compare(count_words(response), relation, num_words)


def _nth_paragraph_first_word(response, *, num_paragraphs, nth_paragraph, first_word):
    paragraphs = re.split(r"\n\n", response)
    count = sum(1 for paragraph in paragraphs if paragraph.strip())
    if nth_paragraph > count:
        return False
    paragraph = paragraphs[nth_paragraph - 1].strip()  # Google indexes the raw split, empty pieces included
    if not paragraph:
        return False
    word = paragraph.split()[0].lstrip("'\"")
    word = re.split(r"[.,?!'\"]", word)[0].lower()
    return count == num_paragraphs and word == first_word.lower()


def _number_placeholders(response, *, num_placeholders):
    r"""The reference counts `re.findall(r"\[.*?\]", ...)`; the same count without its quadratic backtracking on a
    line of unclosed brackets: per line, each `[` pairs with the nearest `]` after it."""
    count = 0
    for line in response.split("\n"):
        position = 0
        while (start := line.find("[", position)) != -1 and (end := line.find("]", start + 1)) != -1:
            count += 1
            position = end + 1
    return count >= num_placeholders


def _postscript(response, *, postscript_marker):
    # The reference's patterns are `\s*<marker>.*$` (multi-line): they match exactly where the marker occurs, so the
    # marker alone is searched for (the leading `\s*` made it quadratic on long runs of whitespace).
    marker = postscript_marker.strip()
    if marker == "P.P.S":
        pattern = r"p\.\s?p\.\s?s"
    elif marker == "P.S.":
        pattern = r"p\.\s?s\."
    else:
        pattern = re.escape(marker.lower())
    return re.search(pattern, response.lower()) is not None


def _number_bullet_lists(response, *, num_bullets):
    return len(_bullets(response)) == num_bullets


def _bullets(response) -> list[str]:
    return re.findall(r"^\s*\*[^\*].*$", response, re.M) + re.findall(r"^\s*-.*$", response, re.M)


def _constrained_response(response):
    return any(option in response.strip() for option in _CONSTRAINED_RESPONSES)


def _number_highlighted_sections(response, *, num_highlights):
    return sum(1 for highlight in _highlights(response) if highlight.strip()) >= num_highlights


def _highlights(response) -> list[str]:
    """What `*...*` and `**...**` enclose, as the reference finds them."""
    single = [h.strip("*") for h in re.findall(r"\*[^\n\*]*\*", response)]
    return single + [h[2:-2] for h in re.findall(r"\*\*[^\n\*]*\*\*", response)]


def _multiple_sections(response, *, section_spliter, num_sections):
    return len(_sections(response, section_spliter)) >= num_sections


def _sections(response, splitter) -> list[str]:
    """The texts after each section header ("SECTION 1", ...)."""
    return re.split(r"\s?" + re.escape(splitter.strip()) + r"\s?\d+\s?", response)[1:]


def _json_format(response):
    try:
        json.loads(_json_text(response))
    except ValueError:
        return False
    return True


def _json_text(response) -> str:
    """The response without the markdown fence around it."""
    text = response.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        text = text.removeprefix(fence)
    return text.removesuffix("```").strip()


def _title(response):
    """The reference's `re.findall(r"<<[^\n]+>>", ...)` without its quadratic backtracking: the pattern is greedy,
    so a line holds at most one title, from its first `<<` to its last `>>`."""
    for line in response.split("\n"):
        start, end = line.find("<<"), line.rfind(">>")
        if start != -1 and end >= start + 3 and line[start : end + 2].lstrip("<").rstrip(">").strip():
            return True
    return False


def _two_responses(response):
    parts = response.split("******")
    valid = []
    for index, part in enumerate(parts):
        if part.strip():
            valid.append(part.strip())
        elif index not in (0, len(parts) - 1):
            return False
    return len(valid) == 2 and valid[0] != valid[1]


def _repeat_prompt(response, *, prompt_to_repeat):
    return response.strip().lower().startswith(prompt_to_repeat.strip().lower())


def _end_checker(response, *, end_phrase):
    return response.strip().strip('"').lower().endswith(end_phrase.strip().lower())


def _quotation(response):
    text = response.strip()
    return len(text) > 1 and text[0] == '"' and text[-1] == '"'


def _capital_word_frequency(response, *, capital_frequency, capital_relation):
    capitals = sum(1 for word in word_tokens(response) if word.isupper())
    return _compare(capitals, capital_relation, capital_frequency)


def _english_capital(response):
    detected = detect_language(response)
    return response.isupper() and (detected is None or detected == "en")


def _english_lowercase(response):
    detected = detect_language(response)
    return response.islower() and (detected is None or detected == "en")


def _no_comma(response):
    return "," not in response


INSTRUCTIONS = {
    "keywords:existence": _keywords_existence,
    "keywords:frequency": _keywords_frequency,
    "keywords:forbidden_words": _keywords_forbidden_words,
    "keywords:letter_frequency": _keywords_letter_frequency,
    "language:response_language": _language_response_language,
    "length_constraints:number_sentences": _number_sentences,
    "length_constraints:number_paragraphs": _number_paragraphs,
    "length_constraints:number_words": _number_words,
    "length_constraints:nth_paragraph_first_word": _nth_paragraph_first_word,
    "detectable_content:number_placeholders": _number_placeholders,
    "detectable_content:postscript": _postscript,
    "detectable_format:number_bullet_lists": _number_bullet_lists,
    "detectable_format:constrained_response": _constrained_response,
    "detectable_format:number_highlighted_sections": _number_highlighted_sections,
    "detectable_format:multiple_sections": _multiple_sections,
    "detectable_format:json_format": _json_format,
    "detectable_format:title": _title,
    "combination:two_responses": _two_responses,
    "combination:repeat_prompt": _repeat_prompt,
    "startend:end_checker": _end_checker,
    "startend:quotation": _quotation,
    "change_case:capital_word_frequency": _capital_word_frequency,
    "change_case:english_capital": _english_capital,
    "change_case:english_lowercase": _english_lowercase,
    "punctuation:no_comma": _no_comma,
}


# ---------------------------------------------------------------------------------------------------------------
# ifeval_strict, run only where the reference already says yes: the reference's check passes again on the text a
# reader sees (`revealed`, the instruction's own words revealed too, so a Cyrillic keyword still matches Cyrillic
# text), and the part the instruction asks for holds words. Language detection is the one check not run again on
# revealed text: mapping look-alikes to Latin would turn Cyrillic or Greek prose into a mix of scripts.
# Substance checks: check(seen, **revealed_arguments) -> bool.

_NOT_RUN_AGAIN_ON_REVEALED = {"language:response_language", "validate_response_language"}


def _met_in_substance(checks: dict, substance_checks: dict, seen: str, name: str, arguments: dict) -> bool:
    """`seen`: the response as `revealed` gives it."""
    arguments = _revealed_arguments(arguments)
    if name not in _NOT_RUN_AGAIN_ON_REVEALED and not checks[name](seen, **arguments):
        return False
    return substance_checks.get(name, lambda seen, **_: True)(seen, **arguments)


def _revealed_arguments(arguments: dict) -> dict:
    def reveal(value):
        if isinstance(value, str):
            return revealed(value)
        return [reveal(item) for item in value] if isinstance(value, list) else value

    return {key: reveal(value) for key, value in arguments.items()}


# A comma in any script or form (class 24): every punctuation mark Unicode names a comma (Arabic, Armenian, Ethiopic,
# NKo, Mongolian, Lisu, Vai, medieval, ...; NFKC has already folded the small, fullwidth and vertical ones), every mark
# named a comma that sits low on the line ("❟"), and the look-alikes "‚" (a low quotation mark) and "ˏ" (a low accent).
# Not a letter with a comma below: Romanian "ș" and "ț" are letters.
_COMMA_LOOK_ALIKES = "\u201a\u02cf"


@functools.lru_cache(maxsize=1)
def _commas() -> frozenset[str]:
    named = set()
    for character in map(chr, range(0x20000)):  # the planes that hold every visible comma (the tag comma is invisible)
        category = unicodedata.category(character)
        if category[0] in "PS" and "COMMA" in (name := unicodedata.name(character, "")):
            if (category[0] == "P" and "QUOTATION" not in name) or " LOW " in name:
                named.add(character)
    return frozenset(named | set(_COMMA_LOOK_ALIKES))


def _has_a_comma(seen: str) -> bool:
    commas = _commas()
    return any(c in commas for c in seen)


_WORD = re.compile(r"[^\W\d_]{2,}")
# A letter a word is made of (class 29): not a modifier letter (Unicode's Lm: "ー", "ـ", "ʻ", "ʹ", "ˇ", "々"), which
# modifies the letters beside it and alone reads as a sign, and not a number written with letters ("〇", "Ⅻ").
_LETTER = regex.compile(r"[\p{L}--\p{Lm}]", regex.V1)
_ALPHANUMERIC = regex.compile(r"[[\p{L}\p{N}]--[\p{Lm}_]]", regex.V1)  # a letter or a digit (modifiers aside)


def _whole_word(word: str) -> re.Pattern:
    return re.compile(rf"(?<!\w){re.escape(word.strip())}(?!\w)", re.I)


def _has_words(text: str, minimum: int = 1) -> bool:
    """At least `minimum` words: runs of letters holding two that are letters of a word (`_LETTER`)."""
    return sum(len(_LETTER.findall(run)) >= 2 for run in _WORD.findall(text)) >= minimum


def _substance_placeholders(response, *, num_placeholders):
    return _placeholders_apart(response) >= num_placeholders


def _substance_postscript(response, *, postscript_marker):
    marker = postscript_marker.strip().lower().rstrip(".")
    at = response.lower().rfind(marker)
    return at != -1 and _has_words(response[at + len(marker) :], 2)


def _substance_title(response):
    """Some `<<...>>` (each `<<` with the nearest `>>` after it on its line) holds words."""
    return any(_has_words(title) for title in pairs_on_a_line(response, "<<", ">>"))


def _substance_sections(response, *, section_spliter, num_sections):
    return _parts_in_substance(_sections(response, section_spliter))


# A part said again is one part: the counts an instruction sets a floor to, or a number for, are met by different
# parts, not by one repeated (a sentence again and again, a numbered copy of a paragraph, "word word word").


def _parts_in_substance(parts: list[str]) -> bool:
    """Each part holds words, and no two are one part said twice (`part_key`)."""
    keys = [part_key(part) for part in parts]
    return all(map(_has_words, parts)) and len(set(keys)) == len(keys)


def _different(parts: list[str]) -> int:
    """How many different parts with words there are."""
    return len({part_key(part) for part in parts if _has_words(part)})


def _new_words(text: str) -> int:
    r"""IFEval's words (`\w+`) that say something new (`novel_count`)."""
    return novel_count(re.findall(r"\w+", text))


# The floors on instances (capital words, a keyword's uses, a letter, placeholders) are met by instances said apart
# (`instances_apart`), not by one said again ("WOW WOW WOW", a sentence again and again, "[name] [name] [name]").


def _capitals_apart(tokens: list[str], is_capital) -> int:
    return len(instances_apart([folded(token) for token in tokens], lambda at: is_capital(tokens[at])))


def _keyword_apart(seen: str, keyword: str) -> int:
    """Uses of `keyword` (one word or several, whole words, any case) said apart."""
    words = [folded(word) for word in re.findall(r"\w+", seen)]
    wanted = [folded(word) for word in re.findall(r"\w+", keyword)]
    if not wanted:
        return 0
    return len(
        instances_apart(words, lambda at: at + 1 >= len(wanted) and words[at + 1 - len(wanted) : at + 1] == wanted)
    )


def _word_forms(word: str) -> set[str]:
    """A word as given and without the marks on its letters: "café" is also written "cafe"."""
    return {word, letters_as_read(word)}


def _most_uses_as_read(seen: str, word: str, uses) -> int:
    """The most uses of `word` (`uses(reading, form)`) that any reading of the text shows (class 27): "sun-ny",
    "s u n n y", "sünny" are uses of "sunny" to a reader, and a ceiling on its uses counts them."""
    return max(uses(reading, form) for form in _word_forms(word) for reading in readings(seen, form))


def _letters_apart(seen: str, letter: str, ignore_case: bool) -> int:
    """The letter's occurrences in words said apart, a run of it counted as at most two ("qqqqqq" is "qq")."""
    text = seen.lower() if ignore_case else seen
    words = re.findall(r"\w+", text)
    doubled = re.compile(re.escape(letter) + "{3,}")
    apart = instances_apart([folded(word) for word in words], lambda at: letter in words[at])
    return sum(doubled.sub(letter * 2, words[at]).count(letter) for at in apart)


def _letter_as_read_count(seen: str, letter: str) -> int:
    """How often an English reader reads the letter (class 23: "é" and "ᴇ" are "e"); a letter asked for with its mark
    ("é") is counted as written, apart from the plain one."""
    return letters_as_read(seen).count(letter) if letters_as_read(letter) == letter else seen.count(letter)


_ALL_CAPITALS = re.compile(r"[A-Z]+")  # Tülu's capital word: `\b[A-Z]+\b`
_PLACEHOLDER_OR_WORD = re.compile(r"\[[^\[\]\n]*\]|\w+")


def _placeholders_apart(seen: str) -> int:
    """Placeholders that hold a letter or digit, said apart; told apart by their text ("[item 1]", "[item 2]")."""
    tokens = _PLACEHOLDER_OR_WORD.findall(seen)
    keys = [" ".join(token.lower().split()) if token.startswith("[") else folded(token) for token in tokens]
    return len(instances_apart(keys, lambda at: tokens[at].startswith("[") and _ALPHANUMERIC.search(tokens[at])))


def _substance_constrained(response):
    return sum(option in response for option in _CONSTRAINED_RESPONSES) == 1


def _substance_json(response):
    value = json.loads(_json_text(response))
    return isinstance(value, (dict, list)) and _says_something(value)


def _says_something(value) -> bool:
    """A value of the JSON holds content (class 28): a number, a truth value or a string with a letter or digit,
    however deep; keys are labels, and `[[]]`, `[null]`, `{"": ""}`, `{"answer": {}}` hold nothing."""
    pending = [value]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            if _ALPHANUMERIC.search(value):
                return True
        elif value is not None:
            return True
    return False


# Letters (with their marks: Devanagari's vowel signs), in distinct words, before a language is judged at all:
# langdetect names a language other than English for 64% of one-word, 35% of two-word, 15% of three-word and 7% of
# five-word runs of English prose (300 runs each of Python's documentation, `pydoc_data.topics`), so "Sure" is French
# to it, "Fine" German and "OK" Portuguese. Sixteen letters is three or four words of a European language, a short
# sentence of Japanese or Thai.
_LANGUAGE_EVIDENCE = 16


def _substance_language(response, *, language):
    """Enough text to tell a language by, not a word or two, or one said again ("oui oui oui"); the reference counts
    a text without letters (langdetect finds nothing in it) as written in any language."""
    words = {
        "".join(c for c in token.lower() if c.isalpha() or unicodedata.category(c)[0] == "M")
        for token in response.split()
    }
    return sum(map(len, words)) >= _LANGUAGE_EVIDENCE


def _differ_in_words(first: str, second: str) -> bool:
    """Two responses, each with words, and not one text twice with other punctuation, case or spacing."""
    first_words, second_words = (re.findall(r"[^\W_]+", part.lower()) for part in (first, second))
    return _has_words(first) and _has_words(second) and first_words != second_words


def _two_responses_in_substance(seen):
    parts = [part for part in seen.split("******") if part.strip()]
    return len(parts) == 2 and _differ_in_words(*parts)


def _before_the_end_phrase(seen, *, end_phrase):
    text = seen.strip().strip('"')
    return _has_words(text[: len(text) - len(end_phrase.strip())])


SUBSTANCE_CHECKS = {
    "keywords:existence": lambda seen, *, keywords: all(_whole_word(keyword).search(seen) for keyword in keywords),
    "keywords:frequency": lambda seen, *, keyword, frequency, relation: (
        _most_uses_as_read(seen, keyword, _keyword_count) < frequency
        if relation == "less than"
        else _keyword_apart(seen, keyword) >= frequency
    ),
    "keywords:letter_frequency": lambda seen, *, letter, let_frequency, let_relation: (
        _letter_as_read_count(seen.lower(), letter.strip().lower()) < let_frequency
        if let_relation == "less than"
        else _letters_apart(seen, letter.strip().lower(), ignore_case=True) >= let_frequency
    ),
    "change_case:capital_word_frequency": lambda seen, *, capital_frequency, capital_relation: (
        capital_relation == "less than" or _capitals_apart(word_tokens(seen), str.isupper) >= capital_frequency
    ),
    "keywords:forbidden_words": lambda seen, *, forbidden_words: (
        not any(
            _whole_word(form).search(reading)
            for word in forbidden_words
            for form in _word_forms(word)
            for reading in readings(seen, form)
        )
    ),
    "punctuation:no_comma": lambda seen: _has_words(seen) and not _has_a_comma(seen),
    "detectable_content:number_placeholders": _substance_placeholders,
    "detectable_content:postscript": _substance_postscript,
    "detectable_format:title": _substance_title,
    "detectable_format:multiple_sections": _substance_sections,
    "detectable_format:constrained_response": _substance_constrained,
    "detectable_format:json_format": _substance_json,
    "detectable_format:number_highlighted_sections": lambda seen, *, num_highlights: (
        _different(_highlights(seen)) >= num_highlights
    ),
    "detectable_format:number_bullet_lists": lambda seen, *, num_bullets: _parts_in_substance(_bullets(seen)),
    "startend:quotation": lambda seen: _has_words(seen.strip()[1:-1]),
    "startend:end_checker": _before_the_end_phrase,
    "combination:repeat_prompt": lambda seen, *, prompt_to_repeat: _has_words(
        seen.strip()[len(prompt_to_repeat.strip()) :]
    ),
    "combination:two_responses": _two_responses_in_substance,
    "language:response_language": _substance_language,
    "length_constraints:number_words": lambda seen, *, num_words, relation: (
        _has_words(seen)
        and (
            max(count_words(seen), words_as_read(seen)) < num_words
            if relation == "less than"
            else _new_words(seen) >= num_words
        )
    ),
    "length_constraints:number_sentences": lambda seen, *, num_sentences, relation: (
        _has_words(seen)
        and (
            sentences_as_read(seen) < num_sentences
            if relation == "less than"
            else _different(sentences(seen)) >= num_sentences
        )
    ),
    "length_constraints:number_paragraphs": lambda seen, **_: _parts_in_substance(
        [paragraph for paragraph in re.split(r"\s?\*\*\*\s?", seen) if paragraph.strip()]
    ),
    "length_constraints:nth_paragraph_first_word": lambda seen, **_: _parts_in_substance(
        [paragraph for paragraph in seen.split("\n\n") if paragraph.strip()]
    ),
}


# Tülu 3's rows (ifeval_tulu.py), farmed the same ways; check(seen, **revealed_arguments) on the stripped response.


def _tulu_words(seen, *, N, quantifier):
    """Counted as the reference counts (whitespace-separated), but only tokens that hold a letter or a digit; for a
    floor only those that say something new (`novel_count`), for a ceiling at least the words a reader sees
    (`words_as_read`: "the_lake_is_calm" is four); "around" is both."""
    words = [token for token in seen.split() if _ALPHANUMERIC.search(token)]
    read = max(len(words), words_as_read(seen))
    if quantifier == "at most":
        return _has_words(seen) and ifeval_tulu.word_count_met(read, N, quantifier)
    met = ifeval_tulu.word_count_met(novel_count(words), N, quantifier)
    return _has_words(seen) and met and (quantifier != "around" or ifeval_tulu.word_count_met(read, N, quantifier))


def _tulu_sentences(seen, *, N, quantifier):
    if quantifier == "at most":
        return _has_words(seen) and ifeval_tulu.sentence_count_met(sentences_as_read(seen), N, quantifier)
    met = ifeval_tulu.sentence_count_met(_different(sentences(seen)), N, quantifier)
    ceiling = quantifier != "around" or ifeval_tulu.sentence_count_met(sentences_as_read(seen), N, quantifier)
    return _has_words(seen) and met and ceiling


def _tulu_paragraphs(seen, *, N, first_word, i):
    paragraphs = seen.split("\n\n")
    first = re.match(re.escape(first_word) + r"(?!\w)", paragraphs[i - 1].strip())
    return first is not None and _parts_in_substance(paragraphs)


def _tulu_choice(seen, *, options):
    """Exactly one option given (an option found only inside a longer one that is also there is that one)."""
    found = [option for option in options if re.search(rf"(?<!\w){re.escape(option)}(?!\w)", seen)]
    return len([option for option in found if not any(option != other and option in other for other in found)]) == 1


TULU_SUBSTANCE_CHECKS = {
    "verify_keywords": lambda seen, *, keyword_list: all(_whole_word(word).search(seen) for word in keyword_list),
    "validate_response_language": _substance_language,
    "verify_paragraph_count": lambda seen, **_: _parts_in_substance(ifeval_tulu.divided_paragraphs(seen)),
    "validate_word_constraint": _tulu_words,
    "verify_sentence_constraint": _tulu_sentences,
    "validate_paragraphs": _tulu_paragraphs,
    "verify_postscript": lambda seen, *, postscript_marker: _substance_postscript(
        seen, postscript_marker=postscript_marker
    ),
    "validate_placeholders": lambda seen, *, N: _substance_placeholders(seen, num_placeholders=N),
    "verify_keyword_frequency": lambda seen, *, word, N: (
        _keyword_apart(seen, word) == N == _most_uses_as_read(seen, word, ifeval_tulu.keyword_count)
    ),
    "verify_letter_frequency": lambda seen, *, letter, N: (
        _letters_apart(seen, letter, ignore_case=False) == N == _letter_as_read_count(seen, letter)
    ),
    "validate_frequency_capital_words": lambda seen, *, N, quantifier: (
        quantifier == "at most"
        or ifeval_tulu.word_count_met(_capitals_apart(re.findall(r"\w+", seen), _ALL_CAPITALS.fullmatch), N, quantifier)
    ),
    "verify_bullet_points": lambda seen, **_: _parts_in_substance(
        [line.lstrip("*-") for line in ifeval_tulu.bullet_lines(seen)]
    ),
    "validate_title": _substance_title,
    "validate_choice": _tulu_choice,
    "validate_highlighted_sections": lambda seen, *, N: _different(_highlights(seen)) >= N,
    "validate_sections": lambda seen, *, N, section_splitter: _parts_in_substance(
        ifeval_tulu.sections(seen, section_splitter)
    ),
    "validate_json_format": _substance_json,
    "validate_repeat_prompt": lambda seen, *, original_prompt: _has_words(seen[len(original_prompt.strip()) :]),
    "validate_two_responses": lambda seen: _differ_in_words(*seen.split("******")),
    "validate_uppercase": lambda seen: _has_words(seen),
    "validate_lowercase": lambda seen: _has_words(seen),
    "validate_end": lambda seen, *, end_phrase: _has_words(seen[: len(seen) - len(end_phrase.strip())]),
    "validate_quotation": lambda seen: _has_words(seen[1:-1]),
    "validate_no_commas": lambda seen: _has_words(seen) and not _has_a_comma(seen),
    "validate_forbidden_words": lambda seen, *, forbidden_words: (
        not any(
            form.lower() in reading.lower()
            for word in forbidden_words
            for form in _word_forms(word)
            for reading in readings(seen, form)
        )
    ),
}
