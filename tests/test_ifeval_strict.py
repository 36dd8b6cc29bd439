"""`ifeval_strict`, IFEval as an RL reward: the reference's verdict AND the instruction met in substance. Each
degenerate way to satisfy the reference is generated in variants (Hypothesis) and shown to pass the reference
(`ifeval`, which evals keep) while failing the reward; honest responses pass both."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.ifeval import verify, verify_strict

FAST = settings(max_examples=40, deadline=None)
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\u00ad", "\ufeff", "\u200e"]
LOOK_ALIKES = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і"}


def truth(instruction: str, **kwargs) -> str:
    return json.dumps({"instruction_id_list": [instruction], "kwargs": [kwargs]})


def farmed(response: str, ground_truth: str) -> bool:
    """The reference pays the response, the reward does not."""
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
    ground_truth = truth("keywords:forbidden_words", forbidden_words=[word])
    assert farmed(f"I will say it: {data.draw(hidden(word))} is the word.", ground_truth)
    assert verify_strict("I will say nothing of the kind today.", ground_truth) == 1.0


@FAST
@given(comma=st.sampled_from(["\uff0c", "\ufe50", "\u3001", "\u201a", "\u060c"]), words=st.integers(2, 6))
def test_a_comma_look_alike_is_a_comma(comma, words):
    ground_truth = truth("punctuation:no_comma")
    assert farmed(f" {comma} ".join(["word"] * words) + ".", ground_truth)
    assert verify_strict(" ".join(["word"] * words) + ".", ground_truth) == 1.0


@FAST
@given(
    keyword=st.sampled_from(["cat", "art", "ice", "low", "rat"]),
    host=st.sampled_from(["con{}enate", "s{}s", "{}s", "b{}"]),
)
def test_a_keyword_counts_as_a_word_not_inside_another(keyword, host):
    ground_truth = truth("keywords:existence", keywords=[keyword])
    assert farmed(f"Nothing but {host.format(keyword)} here.", ground_truth)
    assert verify_strict(f"Here is the {keyword}, plainly.", ground_truth) == 1.0


@FAST
@given(n=st.integers(1, 4), filler=st.sampled_from(["", " ", "  ", "\t", "_", "."]))
def test_empty_placeholders_are_not_placeholders(n, filler):
    ground_truth = truth("detectable_content:number_placeholders", num_placeholders=n)
    response = "Fill these in: " + " ".join(f"[{filler}]" for _ in range(n))
    assert farmed(response, ground_truth)
    assert verify_strict("Dear " + " ".join(f"[name{i}]" for i in range(n)), ground_truth) == 1.0


@FAST
@given(title=st.sampled_from([".", " . ", "-", "***", "1", "!?"]))
def test_a_title_without_words_is_no_title(title):
    ground_truth = truth("detectable_format:title")
    assert farmed(f"<<{title}>>\nA poem follows here.", ground_truth)
    assert verify_strict("<<Ode to the Sea>>\nA poem follows here.", ground_truth) == 1.0


@FAST
@given(n=st.integers(2, 5), splitter=st.sampled_from(["Section", "SECTION", "Part", "PARAGRAPH"]))
def test_empty_sections_are_not_sections(n, splitter):
    ground_truth = truth("detectable_format:multiple_sections", section_spliter=splitter, num_sections=n)
    assert farmed("\n".join(f"{splitter} {i}" for i in range(1, n + 1)), ground_truth)
    honest = "\n".join(f"{splitter} {i}\nThe part about step number {i}." for i in range(1, n + 1))
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


@FAST
@given(
    language=st.sampled_from(["de", "fr", "es", "it", "ja"]),
    text=st.text(alphabet="0123456789 .,!?-+*#", min_size=1, max_size=30).filter(str.strip),
)
def test_a_response_without_letters_is_in_no_language(language, text):
    ground_truth = truth("language:response_language", language=language)
    assert farmed(text, ground_truth)


def test_on_the_shipped_ifeval_rows_the_reward_never_pays_more_than_the_reference():
    rows = [json.loads(line) for line in Path("data/embedded/eval_ifeval.jsonl").read_text().splitlines()]
    honest = "Here is my answer about the moon and my good friends in one short sentence."
    for row in rows:
        assert verify_strict(honest, row["ground_truth"]) <= verify(honest, row["ground_truth"])
