"""`ifeval_strict`, IFEval as an RL reward: the reference's verdict AND the instruction met in substance. Each
degenerate way to satisfy the reference is generated in variants (Hypothesis) and shown to pass the reference
(`ifeval`, which evals keep) while failing the reward; honest responses pass both."""

from __future__ import annotations

import json
import re

import pytest
from helpers import embedded_rows
from hypothesis import given, settings
from hypothesis import strategies as st

from data.loading import load_rlvr
from rewards.ifeval import verify, verify_strict
from rewards.registry import reward_verifier, score_item

FAST = settings(max_examples=40, deadline=None)
# Letters that alone read as signs (class 29): modifier letters (Unicode's Lm: a prolonged sound mark, the Arabic
# tatweel, a turned comma, a prime, a caron, an iteration mark, a low circumflex).
SIGN_LETTERS = ["ーー", "ــــ", "ʻʻ", "ʹʹʹ", "ˇˇ", "々々", "ꞈꞈ"]
# Default-ignorable code points that are not format characters (category Cf): Unicode renders them as nothing. The
# Hangul fillers are letters to Python.
IGNORABLE = ["\u3164", "\u115f", "\u1160", "\uffa0", "\u034f", "\ufe00", "\ufe0f", "\U000e0100", "\u17b4", "\u180b"]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\u00ad", "\ufeff", "\u200e", *IGNORABLE]
LOOK_ALIKES = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і"}


def truth(instruction: str, **kwargs) -> str:
    return json.dumps({"instruction_id_list": [instruction], "kwargs": [kwargs]})


TULU_ARGUMENTS = [
    "N", "quantifier", "end_phrase", "keyword_list", "word", "forbidden_words", "letter", "i", "first_word",
    "postscript_marker", "options", "section_splitter", "original_prompt", "language",
]  # fmt: skip


def tulu_truth(func_name: str, **arguments) -> str:
    return json.dumps({"func_name": func_name, **dict.fromkeys(TULU_ARGUMENTS), **arguments})


def farmed(response: str, ground_truth: str) -> bool:
    """The reference pays the response, the reward does not (the reward of Tülu's rows before 2026-12-05 was the
    reference: what it pays, that reward paid)."""
    return verify(response, ground_truth) == 1.0 and verify_strict(response, ground_truth) == 0.0


@st.composite
def hidden(draw, word: str) -> str:
    """`word` as a reader reads it, with invisible characters inside or letters swapped for look-alikes."""
    letters = list(word)
    how = draw(st.sampled_from(["invisible", "look-alike", "fullwidth"]))
    if how == "invisible":
        at = draw(st.integers(1, len(word) - 1))
        letters.insert(at, draw(st.sampled_from(INVISIBLE)))
    elif how == "look-alike":
        swappable = [i for i, c in enumerate(letters) if c in LOOK_ALIKES]
        if not swappable:
            return "".join(chr(ord(c) + 0xFEE0) for c in word)
        at = draw(st.sampled_from(swappable))
        letters[at] = LOOK_ALIKES[letters[at]]
    else:
        letters = [chr(ord(c) + 0xFEE0) for c in letters]
    return "".join(letters)


@FAST
@given(data=st.data(), word=st.sampled_from(["bomb", "secret", "price", "happy", "coffee", "paris"]))
def test_a_forbidden_word_hidden_from_the_reference_is_still_there(data, word):
    for ground_truth in (
        truth("keywords:forbidden_words", forbidden_words=[word]),
        tulu_truth("validate_forbidden_words", forbidden_words=[word]),
    ):
        assert farmed(f"I will say it: {data.draw(hidden(word))} is the word.", ground_truth)
        assert verify_strict("I will say nothing of the kind today.", ground_truth) == 1.0


@FAST
@given(data=st.data(), word=st.sampled_from(["sunny", "coffee", "price", "paris"]), n=st.integers(1, 3))
def test_a_character_unicode_renders_as_nothing_hides_no_word(data, word, n):
    """Class 25: the first defence removed format characters (Cf) only; a Hangul filler, a letter to Python that
    renders as nothing, kept "sun\u3164ny" from the forbidden-word search of the reference and of the reward."""
    at = data.draw(st.integers(1, len(word) - 1))
    shown = word[:at] + data.draw(st.sampled_from(IGNORABLE)) * n + word[at:]
    for ground_truth in (
        truth("keywords:forbidden_words", forbidden_words=[word]),
        tulu_truth("validate_forbidden_words", forbidden_words=[word]),
    ):
        assert farmed(f"I will say it: {shown} is the word.", ground_truth)


# Letters of other scripts that look like Latin ones, picked from the Unicode charts for these tests (the defence reads
# Unicode's confusables data instead): Armenian, Cherokee, Lisu, Coptic, Canadian syllabics, Tifinagh, Greek and
# Cyrillic letters beyond the first table, Latin IPA letters and small capitals.
OTHER_SCRIPTS = {
    "a": "ɑ", "c": "ᴄϲⲥ", "e": "ꬲҽ", "g": "ɡց", "h": "հһ", "i": "ɩ", "j": "ϳ", "l": "ǀ", "n": "ոռ", "o": "օᴏⲟ",
    "p": "ⲣ", "q": "զ", "s": "ꜱƽꮪ", "u": "սʋᴜ", "v": "ᴠѵ", "w": "ᴡɯ", "y": "ʏүɣ", "z": "ᴢ",
}  # fmt: skip
CAPITALS_OF_OTHER_SCRIPTS = {
    "A": "Ꭺꓮᗅ", "B": "Ᏼꓐᗷ", "C": "Ꮯꓚ", "D": "Ꭰꓓ", "E": "Ꭼꓰⴹ", "G": "Ꮐꓖ", "H": "Ꮋꓧ", "J": "Ꭻꓙ", "K": "Ꮶꓗ",
    "L": "Ꮮꓡᒪ", "M": "Ꮇꓟ", "N": "ꓠ", "O": "ꓳⵔՕ", "P": "Ꮲꓑ", "R": "Ꭱꓣ", "S": "Ꮪꓢ", "T": "Ꭲꓔ", "U": "ꓴՍ", "V": "Ꮩꓦ",
    "W": "Ꮃꓪ", "X": "ꓫⲬ", "Y": "ꓬⲨ", "Z": "Ꮓꓜ",
}  # fmt: skip


@FAST
@given(data=st.data(), word=st.sampled_from(["sunny", "coffee", "price", "happy", "money", "paris", "bomb", "tired"]))
def test_a_forbidden_word_written_with_look_alikes_of_any_script_is_still_there(data, word):
    """Class 24: the first defence knew 45 Cyrillic and Greek look-alikes; "sսnny" (Armenian), "ꮪunny" (Cherokee),
    "Ꭲired" (Cherokee), "ꓔired" (Lisu) and "ɑ" (Latin alpha) paid both references and the reward."""
    spots = [i for i, letter in enumerate(word) if letter in OTHER_SCRIPTS or (i == 0 and letter.upper() in
             CAPITALS_OF_OTHER_SCRIPTS)]  # fmt: skip
    at = data.draw(st.sampled_from(spots))
    choices = OTHER_SCRIPTS.get(word[at], "") + (CAPITALS_OF_OTHER_SCRIPTS.get(word[at].upper(), "") if at == 0 else "")
    letters = data.draw(st.lists(st.sampled_from(choices), min_size=1, max_size=1))
    shown = word[:at] + letters[0] + word[at + 1 :]
    for ground_truth in (
        truth("keywords:forbidden_words", forbidden_words=[word]),
        tulu_truth("validate_forbidden_words", forbidden_words=[word]),
    ):
        assert farmed(f"I will say it: {shown} is the word.", ground_truth)
        assert verify_strict("I will say nothing of the kind today.", ground_truth) == 1.0


UNCASED_CAPITALS = [
    (capital, alike)
    for capital, alikes in CAPITALS_OF_OTHER_SCRIPTS.items()
    for alike in alikes
    if alike.lower() == alike  # no lower case: Lisu, Canadian syllabics, Tifinagh
]


@FAST
@given(capital=st.sampled_from(UNCASED_CAPITALS), start=st.booleans())
def test_a_capital_written_as_an_uncased_look_alike_is_a_capital(capital, start):
    """Lisu, Canadian and Tifinagh letters have no lower case, so `text == text.lower()` holds for "ꓔhe lake"."""
    letter, alike = capital
    honest = "{} is the letter we see, and the lake is calm today while the wind is soft."
    if not start:
        honest = "the letter we see is {}, and the lake is calm today while the wind is soft."
    for ground_truth in (truth("change_case:english_lowercase"), tulu_truth("validate_lowercase")):
        assert farmed(honest.format(alike), ground_truth)
        assert verify_strict(honest.format(letter.lower()), ground_truth) == 1.0


@FAST
@given(
    comma=st.sampled_from([
        "\uff0c", "\ufe50", "\u3001", "\u201a", "\u060c",  # fullwidth, small, ideographic, low quotation mark, Arabic
        "\u055d", "\u07f8", "\u1363", "\u1802", "\u1808", "\ua4fe", "\ua60d", "\ua6f5",  # Armenian ... Bamum
        "\u2e4c", "\u2e49", "\u275f", "\U0001144d", "\U00016e97", "\uff64", "\ufe10",  # medieval ... vertical
    ]),
    words=st.integers(2, 6),
)  # fmt: skip
def test_a_comma_look_alike_is_a_comma(comma, words):
    """Class 24: a comma of any script; the first defence listed eleven, and the Armenian, NKo, Ethiopic, Mongolian,
    Lisu, Vai, Bamum, Newa, Medefaidrin, medieval and stacked commas paid both references and the reward."""
    for ground_truth in (truth("punctuation:no_comma"), tulu_truth("validate_no_commas")):
        assert farmed(f" {comma} ".join(["word"] * words) + ".", ground_truth)
        assert verify_strict(" ".join(["word"] * words) + ".", ground_truth) == 1.0


def test_a_letter_with_a_comma_below_is_a_letter_not_a_comma():
    for ground_truth in (truth("punctuation:no_comma"), tulu_truth("validate_no_commas")):
        assert verify_strict("Mergem acasă și dormim în țară.", ground_truth) == 1.0


@FAST
@given(
    keyword=st.sampled_from(["cat", "art", "ice", "low", "rat"]),
    host=st.sampled_from(["con{}enate", "s{}s", "{}s", "b{}"]),
)
def test_a_keyword_counts_as_a_word_not_inside_another(keyword, host):
    for ground_truth in (
        truth("keywords:existence", keywords=[keyword]),
        tulu_truth("verify_keywords", keyword_list=[keyword]),
    ):
        assert farmed(f"Nothing but {host.format(keyword)} here.", ground_truth)
        assert verify_strict(f"Here is the {keyword}, plainly.", ground_truth) == 1.0


@FAST
@given(n=st.integers(1, 4), filler=st.sampled_from(["", " ", "  ", "\t", "_", ".", *SIGN_LETTERS]))
def test_empty_placeholders_are_not_placeholders(n, filler):
    ground_truth = truth("detectable_content:number_placeholders", num_placeholders=n)
    response = "Fill these in: " + " ".join(f"[{filler}]" for _ in range(n))
    assert farmed(response, ground_truth)
    assert verify_strict("Dear " + " ".join(f"[name{i}]" for i in range(n)), ground_truth) == 1.0


@FAST
@given(title=st.sampled_from([".", " . ", "-", "***", "1", "!?", *SIGN_LETTERS]))
def test_a_title_without_words_is_no_title(title):
    ground_truth = truth("detectable_format:title")
    assert farmed(f"<<{title}>>\nA poem follows here.", ground_truth)
    assert verify_strict("<<Ode to the Sea>>\nA poem follows here.", ground_truth) == 1.0


@FAST
@given(n=st.integers(2, 5), splitter=st.sampled_from(["Section", "SECTION", "Part", "PARAGRAPH"]))
def test_empty_sections_are_not_sections(n, splitter):
    ground_truth = truth("detectable_format:multiple_sections", section_spliter=splitter, num_sections=n)
    assert farmed("\n".join(f"{splitter} {i}" for i in range(1, n + 1)), ground_truth)
    topics = ["the river", "the old mill", "a stone bridge", "the morning market", "our garden"]
    honest = "\n".join(f"{splitter} {i}\nThe part about {topic}." for i, topic in enumerate(topics[:n], 1))
    assert verify_strict(honest, ground_truth) == 1.0


@FAST
@given(order=st.permutations(["My answer is yes.", "My answer is no.", "My answer is maybe."]), k=st.integers(2, 3))
def test_every_constrained_answer_at_once_is_none(order, k):
    ground_truth = truth("detectable_format:constrained_response")
    assert farmed(" ".join(order[:k]), ground_truth)
    assert verify_strict(order[0], ground_truth) == 1.0


@FAST
@given(value=st.sampled_from(["null", "[]", "{}", '""', "0", "true", "```json\nnull\n```"]))
def test_empty_json_is_no_json_answer(value):
    ground_truth = truth("detectable_format:json_format")
    assert farmed(value, ground_truth)
    assert verify_strict('{"name": "Ada", "born": 1815}', ground_truth) == 1.0


EMPTY_LEAVES = st.sampled_from([None, "", " ", "\u200b", "\u3164", "-", "..."])
SAYS_SOMETHING = st.sampled_from(["Ada", 1815, 0, False, "42", "é"])


def empty_json(leaves=EMPTY_LEAVES):
    """A JSON array or object, any depth, whose values hold nothing: keys are labels, not content."""
    keys = st.sampled_from(["", "a", "answer", "name", "items"])
    nested = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3))
    return st.lists(nested, min_size=1, max_size=3) | st.dictionaries(keys, nested, min_size=1, max_size=3)


@FAST
@given(value=empty_json(), content=SAYS_SOMETHING, data=st.data())
def test_a_json_answer_whose_values_hold_nothing_is_no_json_answer(value, content, data):
    """Class 28: the first defence refused `null`, `[]` and `{}`; `[[]]`, `[null]`, `{"": ""}` and `{"answer": {}}`
    still paid both references and the reward."""
    for ground_truth in (truth("detectable_format:json_format"), tulu_truth("validate_json_format")):
        assert farmed(json.dumps(value, ensure_ascii=False), ground_truth)
    honest = {"note": content, "more": value} if data.draw(st.booleans()) else [value, content]
    for ground_truth in (truth("detectable_format:json_format"), tulu_truth("validate_json_format")):
        assert verify_strict(json.dumps(honest, ensure_ascii=False), ground_truth) == 1.0


@FAST
@given(
    language=st.sampled_from(["de", "fr", "es", "it", "ja"]),
    text=st.text(alphabet="0123456789 .,!?-+*#", min_size=1, max_size=30).filter(str.strip),
)
def test_a_response_without_letters_is_in_no_language(language, text):
    ground_truth = truth("language:response_language", language=language)
    assert farmed(text, ground_truth)


@FAST
@given(words=st.lists(st.sampled_from(["road", "stone", "cloud", "morning", "bold"]), min_size=2), data=st.data())
def test_one_response_twice_with_an_invisible_case_or_punctuation_change_is_not_two_responses(words, data):
    text = " ".join(words) + "."
    change = data.draw(st.sampled_from(["\u200b", "!", " ", "\u00ad", "\u3164", "\ufe0f", "upper", "look-alike"]))
    if change == "upper":
        copy = text.upper()
    elif change == "look-alike":
        copy = text.replace("o", LOOK_ALIKES["o"])
    else:
        copy = text[: len(words[0])] + change + text[len(words[0]) :]
    for ground_truth in (truth("combination:two_responses"), tulu_truth("validate_two_responses")):
        assert farmed(f"{text}\n******\n{copy}", ground_truth)
        assert verify_strict(f"{text}\n******\n{' '.join(reversed(words))} too.", ground_truth) == 1.0


@FAST
@given(filler=st.sampled_from(["", " ", ".", "!!", "-", "\u200b", "...", "\u3164\u3164"]), words=st.integers(1, 4))
def test_an_end_phrase_or_a_repeated_prompt_with_nothing_else_is_no_answer(filler, words):
    ends = truth("startend:end_checker", end_phrase="Is there anything else I can help with?")
    assert farmed(f"{filler} Is there anything else I can help with?", ends)
    assert verify_strict("Sure " * words + "thing. Is there anything else I can help with?", ends) == 1.0
    repeats = truth("combination:repeat_prompt", prompt_to_repeat="Write a haiku about rain.")
    assert farmed(f"Write a haiku about rain.{filler}", repeats)
    assert verify_strict("Write a haiku about rain. " + "Soft rain " * words, repeats) == 1.0


@FAST
@given(filler=st.sampled_from([".", "-", "!?", "\u200b.", "1", "\u3164\u3164.", *SIGN_LETTERS]), n=st.integers(2, 4))
def test_paragraphs_without_words_are_not_paragraphs(filler, n):
    counted = truth("length_constraints:number_paragraphs", num_paragraphs=n)
    assert farmed("\n***\n".join(["A real paragraph here."] + [filler] * (n - 1)), counted)
    topics = ["the river", "the old mill", "a stone bridge", "the morning market"]
    assert verify_strict("\n***\n".join(f"A real paragraph about {topic}." for topic in topics[:n]), counted) == 1.0
    first = truth("length_constraints:nth_paragraph_first_word", num_paragraphs=n, nth_paragraph=n, first_word="then")
    assert farmed("\n\n".join([filler] * (n - 1) + ["then we left."]), first)
    came = [f"We came home by {way}." for way in ["train", "bus", "boat"]]
    assert verify_strict("\n\n".join(came[: n - 1] + ["Then we left."]), first) == 1.0


@FAST
@given(letter=st.sampled_from(sorted(LOOK_ALIKES)), shown=st.integers(0, 2), hidden_too=st.integers(1, 3))
def test_a_letter_written_as_its_look_alike_is_counted(letter, shown, hidden_too):
    # "fewer than 3 times": the reference counts the Latin letters only, a reader sees them all
    ground_truth = truth("keywords:letter_frequency", letter=letter, let_frequency=3, let_relation="less than")
    honest = "zz " + " ".join([letter] * shown)
    assert farmed(honest + " " + " ".join([LOOK_ALIKES[letter]] * (3 - shown + hidden_too)), ground_truth)
    assert verify_strict(honest, ground_truth) == 1.0


def test_on_the_shipped_ifeval_rows_the_reward_never_pays_more_than_the_reference():
    rows = embedded_rows("eval_ifeval")
    honest = "Here is my answer about the moon and my good friends in one short sentence."
    for row in rows:
        assert verify_strict(honest, row["ground_truth"]) <= verify(honest, row["ground_truth"])


def test_a_keyword_in_cyrillic_or_greek_is_found_in_text_in_that_script():
    # `revealed` maps Cyrillic and Greek look-alikes to Latin: the keyword must be revealed the same way as the text
    for keyword, text in [("море", "Тихое море спокойно."), ("θάλασσα", "Η θάλασσα είναι ήρεμη.")]:
        assert verify_strict(text, truth("keywords:existence", keywords=[keyword])) == 1.0
        assert verify_strict(text, tulu_truth("verify_keywords", keyword_list=[keyword])) == 1.0


# ---------------------------------------------------------------------------------------------------------------
# Tülu 3's rows (allenai/RLVR-GSM-MATH-IF-Mixed-Constraints: a JSON object naming one check, the unused arguments
# null), the ground truth of the published recipes' RLVR data: the same classes, through their own checks.

NO_WORDS = st.sampled_from(
    ["", " ", ".", "-", "_", "!?", "...", "\u200b", "*", "#", "—", "\u3164\u3164", "\uffa0\uffa0", *SIGN_LETTERS]
)
WORDS = st.lists(  # different words: a part said twice is one part (class 16)
    st.sampled_from(["river", "stone", "quiet", "morning", "light", "garden", "Paris", "old"]), min_size=3, unique=True
)


# func_name -> (arguments, a degenerate response made of n empty parts of `filler`, an honest response of `words`)
TULU_EMPTY_FORMS = {
    "validate_title": ({}, lambda f, n: f"<<{f}>>\nA poem.", lambda w: f"<<{' '.join(w)}>>\nA poem."),
    "validate_placeholders": (
        {"N": 2},
        lambda f, n: "Dear " + " ".join(f"[{f}]" for _ in range(n + 1)),
        lambda w: "Dear " + " ".join(f"[{word}]" for word in w),
    ),
    "validate_highlighted_sections": (
        {"N": 2},
        lambda f, n: "\n".join(f"*{f}*" for _ in range(n + 1)),  # on one line, "** and **" highlights " and "
        lambda w: " and ".join(f"*{word}*" for word in w),
    ),
    "validate_sections": (
        {"N": 2, "section_splitter": "Section"},
        lambda f, n: "\n".join(f"SECTION {i} {f}" for i in range(1, n + 2)),
        lambda w: "\n".join(f"Section {i} on the {word}" for i, word in enumerate(w, 1)),
    ),
    "verify_bullet_points": (
        {"N": 3},
        lambda f, n: "Points:\n" + "\n".join(f"* {f}" for _ in range(3)),
        lambda w: "Points:\n" + "\n".join(f"* the {word}" for word in (w * 3)[:3]),
    ),
    "verify_paragraph_count": (
        {"N": 3},
        lambda f, n: "\n* * *\n".join(["Fine words here.", f"{f}x", f"{f}y"]),
        lambda w: "\n* * *\n".join(f"About the {word}." for word in (w * 3)[:3]),
    ),
    "validate_paragraphs": (
        {"N": 3, "i": 1, "first_word": "The"},
        lambda f, n: f"The end.\n\n{f}\n\nx{f}",
        lambda w: "\n\n".join(f"The {word} here." for word in (w * 3)[:3]),
    ),
    "verify_postscript": (
        {"postscript_marker": "P.S."},
        lambda f, n: f"Thanks.\nP.S. {f}{'1' * n}",
        lambda w: "Thanks.\nP.S. " + " ".join(w),
    ),
    "validate_quotation": ({}, lambda f, n: f'"{f}{"7" * n}"', lambda w: '"' + " ".join(w) + '"'),
    "validate_end": (
        {"end_phrase": "Any other questions?"},
        lambda f, n: f"{f}{'!' * n} Any other questions?",
        lambda w: " ".join(w) + ". Any other questions?",
    ),
    "validate_repeat_prompt": (
        {"original_prompt": "Write about the sea."},
        lambda f, n: f"Write about the sea.{f}",
        lambda w: "Write about the sea. " + " ".join(w),
    ),
    "validate_lowercase": ({}, lambda f, n: f"{f}{'2' * n}.", lambda w: " ".join(w).lower()),
    "validate_uppercase": ({}, lambda f, n: f"{f}{'3' * n}!", lambda w: " ".join(w).upper()),
    "validate_json_format": (
        {},
        lambda f, n: ["null", "{}", "[]", '""', "0", "true"][n % 6],
        lambda w: json.dumps({"words": w}),
    ),
    "validate_word_constraint": (
        {"N": 6, "quantifier": "at least"},
        lambda f, n: "Yes " + " ".join([f.strip() or "-"] * (6 + n)),
        lambda w: " ".join(w) + " rest by the mill",
    ),
    "validate_two_responses": (
        {},
        lambda f, n: f"{f}\n******\n{f}.{'?' * n}",
        lambda w: " ".join(w) + "\n******\n" + " ".join(reversed(w)) + " too",
    ),
}


@FAST
@given(name=st.sampled_from(sorted(TULU_EMPTY_FORMS)), filler=NO_WORDS, n=st.integers(1, 4), words=WORDS)
def test_a_tulu_instruction_met_by_an_empty_part_pays_the_reference_not_the_reward(name, filler, n, words):
    arguments, empty, honest = TULU_EMPTY_FORMS[name]
    ground_truth = tulu_truth(name, **arguments)
    assert farmed(empty(filler, n), ground_truth)
    assert verify(honest(words), ground_truth) == verify_strict(honest(words), ground_truth) == 1.0


@FAST
@given(data=st.data(), word=st.sampled_from(["river", "secret", "coffee", "happy"]), n=st.integers(1, 3))
def test_a_tulu_keyword_hidden_once_more_is_counted(data, word, n):
    # "exactly N times": the reference counts N, a reader N + 1
    ground_truth = tulu_truth("verify_keyword_frequency", word=word, N=n)
    honest = " ".join(f"{lead} near the {word}." for lead in ["We met", "She waited", "They talked"][:n])
    assert farmed(f"{honest} And {data.draw(hidden(word))} once more.", ground_truth)
    assert verify_strict(honest, ground_truth) == 1.0


@FAST
@given(letter=st.sampled_from(sorted(LOOK_ALIKES)), n=st.integers(1, 4), hidden_too=st.integers(1, 3))
def test_a_tulu_letter_written_as_its_look_alike_is_counted(letter, n, hidden_too):
    ground_truth = tulu_truth("verify_letter_frequency", letter=letter, N=n)
    honest = " ".join(letter + "z" * length for length in range(1, n + 1)) + " zz"  # each word said once
    assert farmed(honest + " " + " ".join([LOOK_ALIKES[letter]] * hidden_too), ground_truth)
    assert verify_strict(honest, ground_truth) == 1.0


@FAST
@given(
    options=st.permutations(["My answer is yes.", "My answer is no.", "My answer is maybe."]),
    k=st.integers(2, 3),
    joiner=st.sampled_from([" ", "\n", " or ", " / "]),
)
def test_every_tulu_option_at_once_is_no_choice(options, k, joiner):
    ground_truth = tulu_truth("validate_choice", options=options)
    assert farmed(joiner.join(options[:k]), ground_truth)
    assert verify_strict(f"I thought about it. {options[0]}", ground_truth) == 1.0


@FAST
@given(letters=st.text(alphabet="0123456789 .,!?-+*#", min_size=1, max_size=30).filter(str.strip))
def test_a_tulu_response_without_letters_is_in_no_case(letters):
    for name in ("validate_lowercase", "validate_uppercase"):
        assert farmed(letters, tulu_truth(name))


def test_the_published_recipes_rlvr_rows_reward_the_strict_verifier_through_the_loader():
    """Tülu 3's hub rows (data/samples: the RLVR-GSM-MATH-IF-Mixed-Constraints schema), loaded as a recipe loads them
    and scored as RL scores them: a response of digits and dashes passes "all lowercase" and "at least 40 words" by
    the reference, and earns nothing."""
    rows = [row for row in load_rlvr([{"path": "data/samples/rlvr-gsm-math-if.jsonl"}]) if row["dataset"] == "ifeval"]
    farm = " ".join(["1", "-"] * 20) + " 42"
    honest = (
        "the quiet river runs past the old stone mill where my grandmother baked bread every sunday morning and the"
        " smell of warm loaves drifted across the water to the fishermen who waved from their small wooden boats while"
        " children chased ducks along the muddy bank until supper"
    )
    assert len(rows) == 2
    for row in rows:
        assert score_item(row["dataset"], row["ground_truth"], farm) == 1.0
        assert score_item(reward_verifier(row["dataset"]), row["ground_truth"], farm) == 0.0
        assert score_item(reward_verifier(row["dataset"]), row["ground_truth"], honest) == 1.0


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(set(TULU_EMPTY_FORMS) | {"verify_keywords", "validate_no_commas", "validate_choice"})),
    text=st.text(alphabet=st.sampled_from('ab *-[]<>"{}\n,.!PS1\u200bа'), max_size=60),
)
def test_the_reward_of_a_tulu_row_never_pays_more_than_the_reference(name, text):
    arguments = TULU_EMPTY_FORMS.get(name, ({"keyword_list": ["ab"]}, None, None))[0]
    if name == "validate_choice":
        arguments = {"options": ["ab", "ba"]}
    ground_truth = tulu_truth(name, **arguments)
    assert verify_strict(text, ground_truth) <= verify(text, ground_truth)


# ---------------------------------------------------------------------------------------------------------------
# Class 16: a count met by repetition. "At least 40 words", "at least 8 sentences", "4 paragraphs", "3 bullet
# points": the reference counts parts, so one sentence said again and again (the trained default's own answers did:
# "I LIKE TO VISIT THE RIVER SOON. I LIKE TO VISIT THE RIVER SOON."), one word forty times, or a numbered copy of a
# paragraph meets the count. A part said again is one part: words count where they say something new, sentences,
# paragraphs, bullets, sections and highlights where they differ in words (case and digits folded).

SENTENCES = [  # eight words each, no run of four words shared
    "The river runs past the old stone mill",
    "My grandmother baked bread there every Sunday morning",
    "Fishermen waved to us from their wooden boats",
    "Children chased the ducks along the muddy bank",
    "In autumn the hills turn red and gold",
    "We walked home just before the evening rain",
    "A heron stood still in the shallow water",
    "Lanterns glowed in the windows of the village",
]


@st.composite
def said_again(draw, unit: str, ways=("same", "upper", "numbered", "punctuation", "spacing", "invisible")) -> str:
    """`unit` said again, changed only where a reader would not see another part: case, a number, punctuation,
    spacing, an invisible character."""
    how = draw(st.sampled_from(ways))
    if how == "upper":
        return unit.upper()
    if how == "numbered":  # one word more: "The 7 river runs ..."
        first, rest = unit.split(" ", 1)
        return f"{first} {draw(st.integers(1, 99))} {rest}"
    if how == "punctuation":
        return unit + draw(st.sampled_from(["!", "?", "...", ";"]))
    if how == "spacing":
        return unit.replace(" ", "  ")
    if how == "invisible":
        return unit.replace(" ", " \u200b", 1)
    return unit


@st.composite
def repeated_parts(draw, n: int) -> tuple[list[str], list[str]]:
    """(n parts that are one part said again, n different parts)."""
    unit = draw(st.sampled_from(SENTENCES))
    return [unit] + [draw(said_again(unit)) for _ in range(n - 1)], draw(st.permutations(SENTENCES))[:n]


def sentences_of(parts: list[str]) -> str:
    return " ".join(part.rstrip("!?.;") + "." for part in parts)


def bulleted(parts: list[str]) -> str:
    return "\n".join(f"* {part}" for part in parts)


def highlighted(parts: list[str]) -> str:
    return "\n".join(f"*{part}*" for part in parts)


def in_sections(parts: list[str]) -> str:
    return "\n".join(f"Section {i}\n{part}" for i, part in enumerate(parts, 1))


def paragraphs_starting_it(parts: list[str]) -> str:
    return "\n\n".join(f"It is so. {part}" for part in parts)


# name -> (ground truth for n parts, the response made of the parts)
COUNTED_PARTS = {
    "words, at least": (
        lambda n: truth("length_constraints:number_words", num_words=8 * n, relation="at least"),
        sentences_of,
    ),
    "sentences, at least": (
        lambda n: truth("length_constraints:number_sentences", num_sentences=n, relation="at least"),
        sentences_of,
    ),
    "paragraphs": (lambda n: truth("length_constraints:number_paragraphs", num_paragraphs=n), "\n***\n".join),
    "nth paragraph": (
        lambda n: truth(
            "length_constraints:nth_paragraph_first_word", num_paragraphs=n, nth_paragraph=1, first_word="it"
        ),
        paragraphs_starting_it,
    ),
    "bullets": (
        lambda n: truth("detectable_format:number_bullet_lists", num_bullets=n),
        bulleted,
    ),
    "highlights": (
        lambda n: truth("detectable_format:number_highlighted_sections", num_highlights=n),
        highlighted,
    ),
    "sections": (
        lambda n: truth("detectable_format:multiple_sections", section_spliter="Section", num_sections=n),
        in_sections,
    ),
    "tulu words, at least": (
        lambda n: tulu_truth("validate_word_constraint", N=8 * n, quantifier="at least"),
        sentences_of,
    ),
    "tulu words, around": (
        lambda n: tulu_truth("validate_word_constraint", N=8 * n, quantifier="around"),
        sentences_of,
    ),
    "tulu sentences, at least": (
        lambda n: tulu_truth("verify_sentence_constraint", N=n, quantifier="at least"),
        sentences_of,
    ),
    "tulu paragraphs": (lambda n: tulu_truth("verify_paragraph_count", N=n), "\n* * *\n".join),
    "tulu nth paragraph": (
        lambda n: tulu_truth("validate_paragraphs", N=n, i=1, first_word="It"),
        paragraphs_starting_it,
    ),
    "tulu bullets": (
        lambda n: tulu_truth("verify_bullet_points", N=n),
        bulleted,
    ),
    "tulu highlights": (
        lambda n: tulu_truth("validate_highlighted_sections", N=n),
        highlighted,
    ),
    "tulu sections": (
        lambda n: tulu_truth("validate_sections", N=n, section_splitter="Section"),
        in_sections,
    ),
}


@FAST
@given(name=st.sampled_from(sorted(COUNTED_PARTS)), data=st.data(), n=st.integers(3, 6))
def test_a_count_met_by_one_part_said_again_pays_the_reference_not_the_reward(name, data, n):
    count, response = COUNTED_PARTS[name]
    ground_truth = count(n)
    repeated, different = data.draw(repeated_parts(n))
    assert farmed(response(repeated), ground_truth)
    assert verify(response(different), ground_truth) == verify_strict(response(different), ground_truth) == 1.0


@FAST
@given(word=st.sampled_from(["steady", "more", "the", "very", "ok"]), n=st.integers(20, 80))
def test_one_word_said_over_and_over_is_not_a_long_answer(word, n):
    """What the embedded base model wrote for "at least N words" in 588 stored answers: "steady steady steady ..."."""
    for ground_truth in (
        truth("length_constraints:number_words", num_words=n, relation="at least"),
        tulu_truth("validate_word_constraint", N=n, quantifier="at least"),
    ):
        assert farmed(" ".join([word] * n), ground_truth)


def test_a_ceiling_on_a_count_is_unchanged_by_repeats():
    """Saying less never needs a repeat: "less than" and "at most" are the reference's verdicts."""
    repeated = "It rains. It rains. It rains."
    for ground_truth in (
        truth("length_constraints:number_words", num_words=10, relation="less than"),
        truth("length_constraints:number_sentences", num_sentences=4, relation="less than"),
        tulu_truth("validate_word_constraint", N=10, quantifier="at most"),
        tulu_truth("verify_sentence_constraint", N=3, quantifier="at most"),
    ):
        assert verify(repeated, ground_truth) == verify_strict(repeated, ground_truth) == 1.0


# ---------------------------------------------------------------------------------------------------------------
# Class 18: a floor on instances met by one instance said again. "At least 5 words in capitals", "the word harbor at
# least 3 times", "the letter q at least 10 times", "at least 3 placeholders", and Tülu's exact counts of a keyword or
# a letter: the reference counts instances, so "WOW WOW WOW WOW WOW", one sentence with the keyword said again,
# "qqqqqqqqqq" or "[name] [name] [name]" meets the floor. Class 16's defence covered parts (words, sentences, ...),
# not instances. An instance counts where it is said apart from the others (`text_utils.instances_apart`).

# kind -> (ground truth for n instances, an instance as written)
COUNTED_INSTANCES = {
    "capital words": (
        lambda n: truth("change_case:capital_word_frequency", capital_frequency=n, capital_relation="at least"),
        "NASA",
    ),
    "keyword": (lambda n: truth("keywords:frequency", keyword="harbor", frequency=n, relation="at least"), "harbor"),
    "letter": (
        lambda n: truth("keywords:letter_frequency", letter="q", let_frequency=n, let_relation="at least"),
        "quiet",
    ),
    "placeholders": (lambda n: truth("detectable_content:number_placeholders", num_placeholders=n), "[name]"),
    "tulu capital words, at least": (
        lambda n: tulu_truth("validate_frequency_capital_words", N=n, quantifier="at least"),
        "NASA",
    ),
    "tulu capital words, around": (
        lambda n: tulu_truth("validate_frequency_capital_words", N=n, quantifier="around"),
        "NASA",
    ),
    "tulu keyword, exactly": (lambda n: tulu_truth("verify_keyword_frequency", word="harbor", N=n), "harbor"),
    "tulu letter, exactly": (lambda n: tulu_truth("verify_letter_frequency", letter="q", N=n), "quiet"),
    "tulu placeholders": (lambda n: tulu_truth("validate_placeholders", N=n), "[name]"),
}
PLAIN_SENTENCES = [sentence for sentence in SENTENCES if not sentence.startswith("A ")]  # "A" is a capital word


@st.composite
def one_instance_said_again(draw, instance: str, n: int) -> str:
    """n instances that are one said again: a stutter, one sentence said again (changed only where a reader would
    not see another sentence), or a loop of a few words."""
    how = draw(st.sampled_from(["stutter", "sentence", "loop"]))
    if how == "stutter":
        return draw(st.sampled_from([" ", ", ", "! ", "... ", "\n"])).join([instance] * n) + "."
    if how == "sentence":
        unit = f"{instance} {draw(st.sampled_from(PLAIN_SENTENCES))}"
        same_case = ("same", "numbered", "punctuation", "spacing", "invisible")  # capitals would change the count
        return sentences_of([unit] + [draw(said_again(unit, same_case)) for _ in range(n - 1)])
    lead, follow = draw(st.sampled_from([("", "and"), ("the", "and"), ("", "then the"), ("we saw", "")]))
    return " ".join(f"{lead} {instance} {follow}".strip() for _ in range(n)) + "."


@FAST
@given(kind=st.sampled_from(sorted(COUNTED_INSTANCES)), data=st.data(), n=st.integers(3, 6))
def test_a_floor_on_instances_met_by_one_instance_said_again_pays_the_reference_not_the_reward(kind, data, n):
    count, instance = COUNTED_INSTANCES[kind]
    ground_truth = count(n)
    repeated = data.draw(one_instance_said_again(instance, n))
    assert farmed(repeated, ground_truth), repeated
    honest = sentences_of(f"{instance} {sentence}" for sentence in data.draw(st.permutations(PLAIN_SENTENCES))[:n])
    assert verify(honest, ground_truth) == verify_strict(honest, ground_truth) == 1.0, honest


@FAST
@given(n=st.integers(3, 12))
def test_a_letter_run_in_one_word_counts_at_most_twice(n):
    """ "qqqqqqqqqq" for "the letter q at least 10 times"; an English word holds a letter at most twice in a row."""
    for ground_truth in (
        truth("keywords:letter_frequency", letter="q", let_frequency=n, let_relation="at least"),
        tulu_truth("verify_letter_frequency", letter="q", N=n),
    ):
        assert farmed(f"Here it is: {'q' * n}.", ground_truth)
    assert verify_strict("The queen sat in quiet thought.", tulu_truth("verify_letter_frequency", letter="q", N=2))


# ---------------------------------------------------------------------------------------------------------------
# Class 19: an instruction met by echoing the prompt. The prompt holds what its instructions look for: the keywords
# ("Include the keyword friends."), an example title (<<poem of joy>>), the end phrase, "P.S.", enough words. Echoed,
# made lower case or upper case, stripped of commas, quoted, with the end phrase after it, it met most of the embedded
# IFEval prompts' instructions under this reward (docs/rewards.md). With the prompt, which RL hands every
# reward, the instructions are checked on what the response says of its own (runs of four words copied from the
# prompt blanked; what the instruction gives the response to write stays where the instruction puts it).


def _ifeval_rows(name: str) -> list[dict]:
    return [row for row in embedded_rows(name) if row["dataset"] == "ifeval"]


RLVR_IFEVAL_ROWS = _ifeval_rows("rlvr_train")


def made_compliant(text: str, ground_truth: str, draw) -> str:
    """`text` changed the ways the row's format instructions ask, each drawn or not."""
    ids = json.loads(ground_truth)["instruction_id_list"]
    if "change_case:english_lowercase" in ids or draw(st.booleans()):
        text = text.lower()
    elif "change_case:english_capital" in ids:
        text = text.upper()
    if "punctuation:no_comma" in ids or draw(st.booleans()):
        text = text.replace(",", "")
    return text


@st.composite
def an_echo_beside(draw, row: dict, filler: str) -> tuple[str, str]:
    """(filler with the prompt, or its instruction sentences, echoed after it; the filler alone), each made compliant
    and wrapped alike: quoted, the end phrase after it."""
    prompt = row["messages"][-1]["content"]
    sentences = [sentence for sentence in re.split(r"(?<=[.!?])\s+", prompt) if sentence]
    echo = draw(st.sampled_from([prompt, " ".join(sentences[1:]) or prompt, " ".join(reversed(sentences))]))
    spec = json.loads(row["ground_truth"])
    end = " ".join(kwargs["end_phrase"] for kwargs in spec["kwargs"] if kwargs.get("end_phrase"))
    quoted = "startend:quotation" in spec["instruction_id_list"] or draw(st.booleans())

    def wrap(text: str) -> str:
        text = made_compliant(text, row["ground_truth"], lambda _: False) + (f" {end}" if end else "")
        return f'"{text}"' if quoted else text

    return wrap(f"{filler} {made_compliant(echo, row['ground_truth'], draw)}".strip()), wrap(filler)


@FAST
@given(
    row=st.sampled_from(RLVR_IFEVAL_ROWS),
    # fillers whose language langdetect tells in any case ("OK" alone is Portuguese to it, "OK." English)
    filler=st.sampled_from(["", "Sure, here it is.", "Here is my answer.", "The moon is bright tonight."]),
    data=st.data(),
)
def test_echoing_the_prompt_adds_nothing_to_the_reward(row, filler, data):
    prompt = row["messages"][-1]["content"]
    with_echo, alone = data.draw(an_echo_beside(row, filler))
    assert verify_strict(with_echo, row["ground_truth"], question=prompt) <= verify_strict(
        alone, row["ground_truth"], question=prompt
    ), with_echo


def test_an_echo_of_the_prompt_pays_the_reference_on_most_embedded_prompts_and_the_reward_on_none():
    paid_by_reference, paid_by_reward = 0.0, 0.0
    for row in _ifeval_rows("eval_ifeval"):
        prompt = row["messages"][-1]["content"]
        echo = made_compliant(prompt, row["ground_truth"], lambda _: False)
        spec = json.loads(row["ground_truth"])
        echo += "".join(f" {kwargs['end_phrase']}" for kwargs in spec["kwargs"] if kwargs.get("end_phrase"))
        if "startend:quotation" in spec["instruction_id_list"]:
            echo = f'"{echo}"'
        paid_by_reference += verify(echo, row["ground_truth"])
        paid_by_reward += score_item("ifeval_strict", row["ground_truth"], echo, question=prompt)
    assert paid_by_reference > 200 and paid_by_reward == 0.0


HONEST_WITH_THEIR_PROMPTS = [  # (prompt, ground truth, a response that restates the task and meets it)
    (
        "Write one sentence about the moon. Include the keywords silver and night.",
        truth("keywords:existence", keywords=["silver", "night"]),
        "Here is one sentence about the moon: the silver moon lit the night sky.",
    ),
    (
        'Write a short paragraph about the city. End your response with the exact phrase "Is there anything else I '
        'can help with?"',
        truth("startend:end_checker", end_phrase="Is there anything else I can help with?"),
        "The city wakes early and the markets fill with voices. Is there anything else I can help with?",
    ),
    (
        "First repeat the request word for word without change, then give your answer. Write a haiku about rain.",
        truth("combination:repeat_prompt", prompt_to_repeat="Write a haiku about rain."),
        "Write a haiku about rain. Soft drops on the roof / the garden drinks slowly / grey clouds drift away",
    ),
    (
        "Is the sea salty? Answer with one of the following options: ('My answer is yes.', 'My answer is no.', "
        "'My answer is maybe.')",
        truth("detectable_format:constrained_response"),
        "My answer is yes.",
    ),
    (
        "Write a short paragraph about the train. Answer with at least 12 words.",
        truth("length_constraints:number_words", num_words=12, relation="at least"),
        "Here is a short paragraph about the train. It left at dawn and crossed three rivers before noon.",
    ),
    (
        "Write a poem about joy. Include a title wrapped in double angular brackets, such as <<poem of joy>>.",
        truth("detectable_format:title"),
        "<<poem of joy>>\nThe morning laughs in yellow light.",
    ),
    (
        "Describe the sea. First repeat the request word for word, then answer.",
        tulu_truth("validate_repeat_prompt", original_prompt="Describe the sea."),
        "Describe the sea. It is wide, grey and restless under the wind.",
    ),
    (
        "Write a sentence about bread. End it with the phrase 'Any other questions?'",
        tulu_truth("validate_end", end_phrase="Any other questions?"),
        "Fresh bread smells of warm wheat. Any other questions?",
    ),
]


@pytest.mark.parametrize("prompt, ground_truth, response", HONEST_WITH_THEIR_PROMPTS)
def test_a_response_that_restates_its_task_or_writes_what_the_instruction_gives_is_paid(prompt, ground_truth, response):
    assert verify(response, ground_truth) == verify_strict(response, ground_truth, question=prompt) == 1.0


def test_without_the_prompt_the_reward_is_as_before():
    prompt = "Write one sentence about the moon. Include the keywords silver and night."
    ground_truth = truth("keywords:existence", keywords=["silver", "night"])
    assert verify_strict(prompt, ground_truth) == 1.0
    assert verify_strict(prompt, ground_truth, question=prompt) == 0.0


# ---------------------------------------------------------------------------------------------------------------
# Class 20: a language judged on too little text. langdetect calls "Sure" French, "Fine" German, "OK" Portuguese and
# "Salut" Finnish (it names a language other than English for 35% of two-word runs of English prose), so "answer in
# French" was paid by one English word, and by one word said again. A language is judged on sixteen letters of
# distinct words or more.

HONEST_IN_THEIR_LANGUAGE = {
    "fr": "Le chat dort sur le canapé pendant que la pluie tombe.",
    "de": "Der Hund schläft im Garten und die Katze spielt.",
    "ko": "서울은 아름다운 도시입니다. 봄에는 꽃이 핍니다.",
    "ja": "東京は大きな都市です。春には桜が咲きます。",
    "ru": "Москва большой город. Весной там красиво.",
    "th": "กรุงเทพเป็นเมืองใหญ่ มีวัดสวยงามมากมาย",
    "hi": "दिल्ली भारत की राजधानी है और यह बहुत बड़ा शहर है।",
    "es": "El perro corre por la playa cada mañana.",
}
LANGUAGE_LOTTERY = {"fr": "Sure", "de": "Fine", "pt": "OK", "fi": "Salut"}  # what the reference pays
SHORT_REPLIES = ["OK", "Sure", "Fine", "Salut", "Yes!", "Oui", "Ciao", "Si", "Da", "Nein", "Le", "La", "Hola", "Thanks"]


def language_truth(language: str, tulu: bool) -> str:
    if tulu:
        return tulu_truth("validate_response_language", language=language)
    return truth("language:response_language", language=language)


@pytest.mark.parametrize("tulu", [False, True])
def test_one_english_word_is_a_language_to_the_reference_and_to_the_reward_no_language(tulu):
    for language, reply in LANGUAGE_LOTTERY.items():
        assert farmed(reply, language_truth(language, tulu)), (language, reply)


@FAST
@given(
    reply=st.sampled_from(SHORT_REPLIES),
    times=st.integers(1, 8),
    separator=st.sampled_from([" ", ", ", "! ", "\n", ". "]),
    language=st.sampled_from(sorted({*HONEST_IN_THEIR_LANGUAGE, *LANGUAGE_LOTTERY, "it", "nl", "tr", "pl"})),
    tulu=st.booleans(),
)
def test_a_language_told_from_a_word_or_two_or_one_said_again_is_not_met(reply, times, separator, language, tulu):
    assert verify_strict(separator.join([reply] * times), language_truth(language, tulu)) == 0.0


@pytest.mark.parametrize("language", sorted(HONEST_IN_THEIR_LANGUAGE))
@pytest.mark.parametrize("tulu", [False, True])
def test_a_sentence_or_two_in_the_language_is_paid(language, tulu):
    text = HONEST_IN_THEIR_LANGUAGE[language]
    assert verify(text, language_truth(language, tulu)) == verify_strict(text, language_truth(language, tulu)) == 1.0


# ------------------------------------------------------------------------------------------------ class 21
# A ceiling on words or sentences met by running them together: the reference counts \w+ runs (Google) or
# whitespace-separated tokens (Tülu), so "the_lake_is_calm" is one word to both and "the·lake·is·calm" one to Tülu's;
# punkt's English model does not end a sentence at the ideographic full stop.
CEILING_WORDS = [
    "lake",
    "calm",
    "still",
    "morning",
    "light",
    "birds",
    "rest",
    "water",
    "trees",
    "stand",
    "quiet",
    "shore",
]
RUN_TOGETHER = {"underscore": "_", "nothing": "", "capitals": "", "joiner": "\u200d", "middle dot": "\u00b7",
                "slash": "/", "dot": ".", "hyphen": "-"}  # fmt: skip
GOOGLE_COUNTS_ONE = {"underscore", "nothing", "capitals"}  # \w+ splits at the signs and the joiner


def run_together(words: list[str], how: str) -> str:
    shown = [word.capitalize() for word in words] if how == "capitals" else words
    return RUN_TOGETHER[how].join(shown) + "."


@FAST
@given(
    words=st.lists(st.sampled_from(CEILING_WORDS), min_size=12, max_size=30), how=st.sampled_from(sorted(RUN_TOGETHER))
)
def test_a_ceiling_on_words_met_by_words_run_together_pays_the_reference_not_the_reward(words, how):
    n = len(words)
    google = truth("length_constraints:number_words", relation="less than", num_words=n // 2)
    tulu = tulu_truth("validate_word_constraint", N=n // 2 - 1, quantifier="at most")
    glued = run_together(words, how)
    assert farmed(glued, tulu)
    assert farmed(glued, google) if how in GOOGLE_COUNTS_ONE else verify(glued, google) == 0.0
    honest = " ".join(words) + "."  # the same words, under a ceiling above their count: both pay
    assert verify_strict(honest, truth("length_constraints:number_words", relation="less than", num_words=n + 1)) == 1
    assert verify_strict(honest, tulu_truth("validate_word_constraint", N=n, quantifier="at most")) == 1.0


# Sentence ends of other scripts, picked for the test: the ideographic full stop, the Devanagari danda and double danda,
# the Arabic full stop and question mark, the Armenian, Ethiopic, Mongolian, Canadian syllabics, Lisu and Vai full
# stops, the Khmer khan, the interrobang, the reversed question mark.
OTHER_SENTENCE_ENDS = [
    "\u3002", "\u0964", "\u0965", "\u06d4", "\u061f", "\u0589", "\u1362", "\u1803", "\u166e", "\ua4ff", "\ua60e",
    "\u17d4", "\u203d", "\u2e2e",
]  # fmt: skip


@FAST
@given(
    n=st.integers(3, 8),
    words=st.lists(st.sampled_from(CEILING_WORDS), min_size=3, max_size=6),
    end=st.sampled_from(OTHER_SENTENCE_ENDS),
)
def test_a_ceiling_on_sentences_met_with_another_scripts_sentence_ends_pays_the_reference_not_the_reward(n, words, end):
    """Classes 21 and 26: punkt's English model ends sentences at ".", "!" and "?" only; the first defence added "。",
    and "The lake is calm। The wind is soft।" was still one sentence (153 of Unicode's 172 sentence terminals)."""
    said = [f"The {' '.join(words[i % len(words) :] + words[: i % len(words)])} number {i}" for i in range(n)]
    google = truth("length_constraints:number_sentences", relation="less than", num_sentences=2)
    tulu = tulu_truth("verify_sentence_constraint", N=1, quantifier="at most")
    for ground_truth in (google, tulu):
        assert farmed(end.join(said) + end, ground_truth)
        assert farmed(f"{end} ".join(said) + end, ground_truth)
    honest = ". ".join(said) + "."
    assert verify_strict(
        honest, truth("length_constraints:number_sentences", relation="less than", num_sentences=n + 1)
    )
    assert verify_strict(honest, tulu_truth("verify_sentence_constraint", N=n, quantifier="at most")) == 1.0


def test_a_reader_counts_honest_compounds_numbers_and_formulas_as_the_whitespace_count_does():
    """What stays one word: a contraction, a hyphenated compound, a number, a formula, an abbreviation's capitals."""
    from rewards.text_utils import words_as_read

    honest = "Don't forget the well-known 3.14, 1,000 and 3/4 in \\frac{3}{4} or 3*4 at 2:30 (USA)."
    assert words_as_read(honest) == len(honest.split()) == 15
    assert words_as_read("the_lake the·lake TheLake the/lake") == 8
    assert words_as_read("thelakeiscalmandstill") == 3  # 21 letters: at least one word for every eight


# ------------------------------------------------------------------------------------------------ class 22
# A forbidden word written so that the reference's search misses it: broken by a sign ("sun-ny", "s.u.n.n.y",
# "sunn*y"), spelled out letter by letter ("s u n n y"), or run together with the next word ("sunny_day", "SunnyDay",
# which Google's whole-word search misses).
FORBIDDEN = ["sunny", "weather", "happy", "garden", "ocean", "bright"]
MARKED_VOWELS = {"a": "äáâà", "e": "ëéêè", "i": "ïíîì", "o": "öóôò", "u": "üúûù", "y": "ÿý"}


@st.composite
def broken_up(draw, word: str) -> tuple[str, bool]:
    """(the word written so a reader still reads it, whether Tülu's substring search misses it too)."""
    how = draw(
        st.sampled_from(["sign", "dots", "spelled", "spelled after a", "underscore", "capitals", "mark", "look-alike"])
    )
    if how == "look-alike":  # "5unny", "g4rden" (class 30)
        return draw(with_signs(word)), True
    if how == "mark":  # "sünny", "gärden" (class 27): a vowel with a mark, as one character
        at = draw(st.sampled_from([i for i, letter in enumerate(word) if letter in MARKED_VOWELS]))
        return word[:at] + draw(st.sampled_from(MARKED_VOWELS[word[at]])) + word[at + 1 :], True
    if how == "sign":
        at = draw(st.integers(1, len(word) - 1))
        return word[:at] + draw(st.sampled_from(["-", "*", ".", "·", "/", "~"])) + word[at:], True
    if how == "dots":
        return ".".join(word), True
    if how in ("spelled", "spelled after a"):
        return ("a " if how == "spelled after a" else "") + " ".join(word), True
    if how == "underscore":
        return f"{word}_day", False
    return f"{word.capitalize()}Day", False


@FAST
@given(word=st.sampled_from(FORBIDDEN), data=st.data())
def test_a_forbidden_word_broken_up_or_run_together_is_still_the_word(word, data):
    shown, tulu_misses = data.draw(broken_up(word))
    response = f"Today is {shown} and we walk by the lake."
    assert farmed(response, truth("keywords:forbidden_words", forbidden_words=[word]))
    tulu = tulu_truth("validate_forbidden_words", forbidden_words=[word])
    assert farmed(response, tulu) if tulu_misses else verify(response, tulu) == 0.0
    honest = "Today is calm and we walk by the lake, it's well-known and e.g. fine."
    assert verify_strict(honest, truth("keywords:forbidden_words", forbidden_words=[word])) == 1.0
    assert verify_strict(honest, tulu) == 1.0


# ------------------------------------------------------------------------------------------------ class 30
# A forbidden word with some of its letters written as signs that look like them: leet's digits and signs ("5unny",
# "c0ffee", "he11o", "$unny") and the symbols Unicode's confusables data pairs with a letter ("s∪nny", "sunn¥"). The
# reference's search, and class 22's reading of a sign as nothing, missed them all.
SIGNS_FOR = {
    "a": "4@",
    "b": "8",
    "c": "¢",
    "e": "3€℮",
    "g": "69",
    "i": "1!|",
    "l": "1|",
    "o": "0०০〇",
    "s": "5$",
    "t": "7+",
    "u": "∪⋃",
    "x": "×",
    "y": "¥",
}
SIGNABLE = ["sunny", "coffee", "hello", "ocean", "bright", "stable", "toast", "lucky", "glass"]


@st.composite
def with_signs(draw, word: str) -> str:
    """`word` with one letter, up to half of them, written as a sign that looks like it."""
    places = [at for at, letter in enumerate(word) if letter in SIGNS_FOR]
    chosen = draw(st.lists(st.sampled_from(places), min_size=1, max_size=len(word) // 2, unique=True))
    return "".join(
        draw(st.sampled_from(SIGNS_FOR[letter])) if at in chosen else letter for at, letter in enumerate(word)
    )


@FAST
@given(word=st.sampled_from(SIGNABLE), data=st.data())
def test_a_forbidden_word_with_letters_written_as_look_alike_signs_is_still_the_word(word, data):
    shown = data.draw(with_signs(word))
    response = f"Today is {shown} and we walk by the lake."
    assert farmed(response, truth("keywords:forbidden_words", forbidden_words=[word]))
    assert farmed(response, tulu_truth("validate_forbidden_words", forbidden_words=[word]))


@pytest.mark.parametrize("word", ["lol", "sos", "bob", "leet", "sis", "tot"])
def test_numbers_and_prices_are_not_read_as_a_forbidden_word(word):
    honest = "Rooms 101, 505 and 808 took 1337 guests at $5 each; 7+7 is 14 and 515 is odd."
    assert verify_strict(honest, truth("keywords:forbidden_words", forbidden_words=[word])) == 1.0
    assert verify_strict(honest, tulu_truth("validate_forbidden_words", forbidden_words=[word])) == 1.0


# ------------------------------------------------------------------------------------------------ class 27
# A ceiling on a word's uses met the ways of class 22: Google's "use sunny less than 2 times" counts the substring, and
# Tülu's "exactly once" whole words, so "sun-ny", "s u n n y" and "sünny" (and, for Tülu, "sunny_day") were no uses.


@FAST
@given(word=st.sampled_from(FORBIDDEN), data=st.data(), n=st.integers(1, 3))
def test_a_ceiling_on_a_words_uses_met_by_writing_it_broken_up_pays_the_reference_not_the_reward(word, data, n):
    uses = [data.draw(broken_up(word)) for _ in range(n)]
    places = ["by the lake", "in the old town", "at the market"]
    response = f"The {word} hour began. " + " ".join(
        f"It was {shown} {where}." for (shown, _), where in zip(uses, places)
    )
    google = truth("keywords:frequency", keyword=word, frequency=2, relation="less than")
    tulu = tulu_truth("verify_keyword_frequency", word=word, N=1)
    assert farmed(response, tulu)
    google_misses_them = all(misses for _, misses in uses)  # its substring search finds "sunny_day" and "SunnyDay"
    assert farmed(response, google) if google_misses_them else verify(response, google) == 0.0
    honest = f"The {word} hour began. " + " ".join(f"It was calm {where}." for where in places[:n])
    assert verify_strict(honest, google) == verify_strict(honest, tulu) == 1.0


# ------------------------------------------------------------------------------------------------ class 23
# A ceiling on a letter met by writing the letter with a mark on it or as a small capital ("thé lakė", "ᴛhᴇ"): the
# reference counts code points, and NFKC keeps both.
MARKED = {"a": "àáâãäåāă", "e": "èéêëēĕėę", "i": "ìíîïĩīĭį", "o": "òóôõöōŏő", "u": "ùúûüũūŭů", "n": "ñńņň", "s": "śŝşš"}
SMALL_CAPITAL = {"a": "ᴀ", "e": "ᴇ", "i": "ɪ", "o": "ᴏ", "u": "ᴜ", "n": "ɴ", "s": "ꜱ"}


@FAST
@given(letter=st.sampled_from(sorted(MARKED)), data=st.data())
def test_a_ceiling_on_a_letter_met_by_the_letter_with_a_mark_or_as_a_small_capital_pays_the_reference_not_the_reward(
    letter, data
):
    honest = "The sun is setting on a calm ocean, and the sea is quiet as we walk on the sand in silence."
    count = honest.count(letter)
    disguise = data.draw(st.sampled_from([*MARKED[letter], SMALL_CAPITAL[letter]]))
    shown = honest.replace(letter, disguise)  # every one of its letters disguised: the reference counts none
    google = truth("keywords:letter_frequency", letter=letter, let_frequency=count, let_relation="less than")
    assert farmed(shown, google)
    assert farmed(shown, tulu_truth("verify_letter_frequency", letter=letter, N=0))
    # written plainly, the same text under a ceiling above its count passes both
    above = truth("keywords:letter_frequency", letter=letter, let_frequency=count + 1, let_relation="less than")
    assert verify_strict(honest, above) == 1.0


def test_a_letter_asked_for_with_its_mark_is_counted_as_written():
    """Reading "é" as "e" is for a plain letter's ceiling; a ceiling on "é" itself still counts every "é"."""
    french = "Le café est près de la rivière et le thé est chaud."  # two of "é", one of "è"
    for ceiling, paid in ((3, 1.0), (2, 0.0)):
        ground_truth = truth("keywords:letter_frequency", letter="é", let_frequency=ceiling, let_relation="less than")
        assert verify(french, ground_truth) == verify_strict(french, ground_truth) == paid
    assert verify_strict(french, tulu_truth("verify_letter_frequency", letter="é", N=2)) == 1.0
