"""Every verifier is linear in the response's length and bounded in memory: the cost attacks a policy can find.

Each attack is a long response built to make a backtracking regex or sympy work for minutes. Ours must answer in a
fraction of a second at 200k characters; the pattern the reference (or our first version) used is shown to blow up
on the same input at a tenth of that length. Costs are CPU time (`time.process_time`): what an attack makes the verifier
spend, which another job on the machine inflates less than wall-clock time, though not never (2.13 s against a 2 s
bound once under `make test`'s two workers). The tests of a cost are marked `cost`: `make test-timing` runs them one at
a time, `make test` leaves them out; the behaviour tests here (what is never evaluated, the cache's keys) stay in it.
"""

from __future__ import annotations

import gc
import json
import re
import time

import pytest

from rewards import answers, math_equiv
from rewards.registry import score_item

LONG = 200_000


def _ifeval(instruction_id: str, **kwargs) -> str:
    return json.dumps({"instruction_id_list": [instruction_id], "kwargs": [kwargs]})


def _tulu(func_name: str, **arguments) -> str:
    """Tülu 3's RLVR rows: one check, by name (rewards/ifeval_tulu.py)."""
    return json.dumps({"func_name": func_name, **arguments})


# (verifier, ground truth, attack unit, the naive pattern it defeats)
ATTACKS = {
    "ifeval title on '<'": ("ifeval", _ifeval("detectable_format:title"), "<", r"<<[^\n]+>>"),
    "ifeval placeholders on '['": (
        "ifeval",
        _ifeval("detectable_content:number_placeholders", num_placeholders=1),
        "[",
        r"\[.*?\]",
    ),
    "ifeval P.P.S on whitespace": (
        "ifeval",
        _ifeval("detectable_content:postscript", postscript_marker="P.P.S"),
        " ",
        r"\s*p\.\s?p\.\s?s.*$",
    ),
    "Tülu title on '<'": ("ifeval_strict", _tulu("validate_title"), "<", r"<<(.*?)>>"),
    "Tülu placeholders on '['": ("ifeval_strict", _tulu("validate_placeholders", N=1), "[", r"\[(.*?)\]"),
    "string_match on unclosed <answer>": ("string_match", "42", "<answer>", r"<answer>(.*?)</answer>"),
    "math on unclosed \\(": ("math", "42", "\\(", r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]"),
}


def _seconds(function, *args) -> float:
    gc.collect()  # what earlier tests left is collected now, not in a pause charged to this call
    start = time.process_time()
    function(*args)
    return time.process_time() - start


@pytest.mark.parametrize("name", list(ATTACKS))
@pytest.mark.cost
def test_long_adversarial_responses_cost_linear_time(name):
    dataset, truth, unit, naive_pattern = ATTACKS[name]
    short = unit * (LONG // 10 // len(unit))
    naive = _seconds(re.findall, naive_pattern, short, re.S | re.M)
    ours_short = _seconds(score_item, dataset, truth, short)
    assert naive > 20 * ours_short + 0.05  # the naive pattern is already slow at a tenth of the length
    assert _seconds(score_item, dataset, truth, unit * (LONG // len(unit))) < 2.0


@pytest.mark.parametrize(
    "answer",
    [
        "(10^{10})!",
        "10^{10}!",
        "((5!)!)!",
        "\\binom{1000000}{500000}",
        "\\Gamma(10^{9})",
        "\\dbinom{10^{6}}{3}",
        "9^{9^{9^{9}}}",
    ],
)
def test_factorials_binomials_gamma_and_towers_are_not_evaluated(answer):
    start = time.process_time()
    assert math_equiv.verify(f"\\boxed{{{answer}}}", "5") == 0.0
    assert time.process_time() - start < 1.0


def test_small_factorials_and_binomials_are_evaluated_and_count_where_the_truth_has_them():
    assert math_equiv.verify("\\boxed{5!}", "5!") == 1.0
    assert math_equiv.verify("\\boxed{120}", "5!") == 1.0
    assert math_equiv.verify("\\boxed{\\binom{5}{2}}", "\\binom{5}{2}") == 1.0
    assert math_equiv.verify("\\boxed{5!}", "120") == 0.0  # the question restated (rewards/math_equiv.py)


def test_the_math_cache_holds_digests_not_answers_and_is_capped(monkeypatch):
    monkeypatch.setattr(math_equiv, "_VERDICTS", type(math_equiv._VERDICTS)())
    monkeypatch.setattr(math_equiv, "_MAX_CACHED_VERDICTS", 100)
    for index in range(300):
        math_equiv.equivalent("5", f"{index} " + "x" * 100_000)
    assert len(math_equiv._VERDICTS) == 100
    assert all(isinstance(key, bytes) and len(key) == 16 for key in math_equiv._VERDICTS)


@pytest.mark.parametrize(
    "instruction, kwargs, valid, unit, naive_pattern",
    [
        ("detectable_format:title", {}, "<<A Title>>\n", "<<", r"<<([^\n]*?)>>"),
        ("detectable_format:number_highlighted_sections", {"num_highlights": 1}, "*a word*\n", "*", r"\*+([^\n*]+)\*+"),
    ],
)
@pytest.mark.cost
def test_ifeval_strict_substance_checks_cost_linear_time(instruction, kwargs, valid, unit, naive_pattern):
    """The strict reward's checks run where the reference already passed: one valid title (or highlight) and a long
    line that makes a lazy or nested pattern quadratic."""
    truth = _ifeval(instruction, **kwargs)
    short = valid + unit * (LONG // 10 // len(unit))
    naive = _seconds(re.findall, naive_pattern, short)
    assert naive > 20 * _seconds(score_item, "ifeval_strict", truth, short) + 0.05
    long = valid + unit * (LONG // len(unit))
    start = time.process_time()
    assert score_item("ifeval_strict", truth, long) == 1.0
    assert time.process_time() - start < 2.0


@pytest.mark.parametrize(
    "verifier, response",
    [
        ("gsm8k", "The answer is 5" + " " * LONG + "apples."),
        ("string_match", "<answer>5" + "\t" * LONG + "x</answer>"),
    ],
)
@pytest.mark.cost
def test_a_number_followed_by_a_long_run_of_whitespace_costs_linear_time(verifier, response):
    """The number reader once looked for an exponent behind two nested `\\s*`: quadratic in the whitespace after
    every number."""
    naive = _seconds(re.findall, r"\d(?:\s*(?:e\d|\s*\\times))?", "1" + " " * (LONG // 10))
    assert naive > 0.05
    assert _seconds(score_item, verifier, "5", response) < 2.0


def _answer_clause_read_as_before(clause: str):
    """The gsm8k answer clause as first written: each number's negation looked for in the whole clause before it."""
    from rewards.numbers import numbers_in

    negation = re.compile(r"(?:\bnot|n't|\binstead\s+of|\brather\s+than|\bnor)\s*(?:exactly\s+|equal\s+to\s+)?$", re.I)
    return next((value for start, _, value in numbers_in(clause) if not negation.search(clause[:start])), None)


@pytest.mark.cost
def test_the_answer_clause_reads_negations_in_linear_time():
    """Every number of a long answer clause ("not 1, not 1, ...") once searched the whole clause before it for a
    negation: 3 s at 20,000 characters, over 300 s at 200,000."""
    short = "The answer is " + "not 1, " * (LONG // 20 // 7) + "2"
    assert _seconds(_answer_clause_read_as_before, short) > 20 * _seconds(score_item, "gsm8k", "2", short) + 0.05
    assert _seconds(score_item, "gsm8k", "2", "The answer is " + "not 1, " * (LONG // 7) + "2") < 2.0


@pytest.mark.parametrize(
    "unit", ["at least 1, ", " or", " +-", " +/-", ". or", "$1$ or ", "\\boxed{1}, ", "<answer>1</answer> or "]
)
@pytest.mark.cost
def test_bounds_and_alternatives_in_an_answer_cost_linear_time(unit):
    """The connectives between alternatives are read by one pattern that never splits a run two ways ("+-" is
    "+" then "-", never also one token). Its first draft had a token "+/-" beside "+", "/" and "-": exponential,
    2.8 s on 72 characters."""
    draft = re.compile(r"(?:\s|[,;/]|[-\u2010-\u2015]|\+/?-?)*")
    assert _seconds(draft.fullmatch, " +-" * 20 + "x") > 0.05
    response = "The answer is 1" + unit * (LONG // len(unit)) + " 2"
    for verifier in ("gsm8k", "math", "string_match"):
        assert _seconds(score_item, verifier, "2", response) < 2.0


@pytest.mark.cost
def test_a_one_sided_inequality_with_a_long_run_of_whitespace_costs_linear_time():
    """The ray reader (`x > 1` is `(1,\\infty)`) as first written rescanned a run of whitespace from every position of
    its lazy bound: 3.4 s on 20,000 spaces. It now reads the text with its runs collapsed."""
    first = re.compile(r"^(?:[a-zA-Z]\s*(?:<|>)(?![a-zA-Z])\s*[^<>=]+|[^<>=]+?\s*(?:<|>)(?![a-zA-Z])\s*[a-zA-Z])$")
    assert _seconds(first.match, "1" + " " * (LONG // 40) + "<x") > 0.05
    for answer in ("1" + " " * LONG + "<x", "x" + " \t" * (LONG // 2) + ">", "1 " * (LONG // 2) + "<x"):
        assert _seconds(score_item, "math", "1", f"\\boxed{{{answer}}}") < 2.0


@pytest.mark.parametrize(
    "unit",
    [
        "seventeen ",
        "one and ",
        " if",
        " could be",
        "( ",
        "\\text{or} ",
        "\u200b",
        " oder",
        " peut-être",
        " या",
        " 2nd guess:",
        " (70%)",
        " second  ",
        " = 3",
        " within 1,",
        " (at most",
        " i.e.",
        " not sure,",
        " (typo:",
    ],
)
@pytest.mark.cost
def test_alternatives_offered_in_words_cost_linear_time(unit):
    """Numbers in words are found by one pattern and valued run by run; the words between two values are counted
    before any pattern reads them for a condition or a modal "be", so a flood of such words is read once (the
    condition's pattern alone rescans the rest of the text from every "if")."""
    if unit == " if":
        assert _seconds(answers._CONDITION_CLOSED.search, unit * (LONG // 20 // len(unit))) > 0.05
    pad = unit * (LONG // len(unit))
    for response in ("The answer is 1" + pad + " 2", "\\boxed{1}" + pad + " 2", pad + " or \\boxed{1}"):
        for verifier in ("gsm8k", "math", "string_match"):
            assert _seconds(score_item, verifier, "2", response) < 2.0, (verifier, response[:40])


@pytest.mark.cost
def test_a_table_of_the_tests_is_found_in_linear_time():
    """The table check runs in the verifier's process, before the sandbox: a response that is one huge table, against
    a problem with many tests, is read once (entries are indexed by their key, not searched per test)."""
    from rewards.lookup import hardcoded_tests

    tests = [f"assert f({i}) == {i * 7}" for i in range(100)]
    dict_table = "T = {" + ", ".join(f"{i}: {i * 7}" for i in range(20_000)) + "}\ndef f(n):\n    return T[n]\n"
    if_table = "def f(n):\n" + "".join(f"    if n == {i}:\n        return {i * 7}\n" for i in range(10_000))
    for code in (dict_table, if_table):
        assert len(code) > LONG
        assert _seconds(hardcoded_tests, code, tests) < 2.0


@pytest.mark.parametrize(
    "truth",
    [
        _ifeval("length_constraints:number_words", num_words=10, relation="at least"),
        _ifeval("length_constraints:number_sentences", num_sentences=10, relation="at least"),
        _ifeval("length_constraints:number_paragraphs", num_paragraphs=3),
        _ifeval("detectable_format:number_bullet_lists", num_bullets=3),
        _tulu("validate_word_constraint", N=10, quantifier="at least"),
        _tulu("verify_sentence_constraint", N=10, quantifier="around"),
    ],
)
@pytest.mark.cost
def test_counting_only_new_words_and_different_parts_costs_linear_time(truth):
    """Class 16 reads every word run and part once (a set of what was seen), whether the text repeats or not."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    unit = [a + b + c for a in letters[:10] for b in letters for c in letters[:20]]  # 5200 words, no digit to fold
    words = (unit * 10)[: LONG // 4 + 1]  # a word run repeats every 5200 words
    for response in (" ".join(words), ". ".join(words), "\n***\n".join(words), "\n".join(f"* {w}" for w in words)):
        assert len(response) > LONG
        assert _seconds(score_item, "ifeval_strict", truth, response) < 2.0


@pytest.mark.cost
def test_two_long_statements_in_two_formats_are_compared_in_linear_time():
    """Class 17 compares the statements next to each other: a response whose "statements" are pages costs no more."""
    half = "word " * (LONG // 10)
    for response in (
        f"<answer>{half}zz</answer> The answer is {half * 2} end",  # every alignment fails at its last word
        f"The answer is {half}\n#### {half} 7",
        f"\\boxed{{{half}}} The answer is {half}",
    ):
        for verifier in ("gsm8k", "math", "string_match"):
            assert _seconds(score_item, verifier, "7", response) < 2.0, (verifier, response[:30])


@pytest.mark.parametrize("unit", [" ", " $", " otherwise!", "!", " if ", " alt ", " also", "?"])
@pytest.mark.cost
def test_what_joins_two_values_is_read_in_linear_time(unit):
    """The joins of two bare values ("17 and 18", "17. Also 18", "17?? 18??") and the fallbacks ("if not 18") are read
    on the gap with its spacing collapsed, and only when it is short. The first draft matched the gap whole with
    `\\s*\\$?\\s*` on each side: cubic in a run of spaces, 28.7 s at 2,000 of them."""
    draft = re.compile(r"\s*\$?\s*(?:,?\s*(?:and|&|\\&)|[.!]?\s*also,?|\?+)\s*\$?\s*", re.I)
    assert _seconds(draft.fullmatch, " " * 400 + "x") > 0.05
    pad = unit * (LONG // len(unit))
    for response in ("The answer is 17" + pad + "x 18.", "#### 17" + pad + "x 18", "\\boxed{17}" + pad + "x 18"):
        for verifier in ("gsm8k", "math", "string_match"):
            assert _seconds(score_item, verifier, "18", response) < 2.0, (verifier, unit)


@pytest.mark.parametrize(
    "truth",
    [
        _ifeval("change_case:capital_word_frequency", capital_frequency=10, capital_relation="at least"),
        _ifeval("keywords:frequency", keyword="harbor", frequency=10, relation="at least"),
        _ifeval("keywords:letter_frequency", letter="q", let_frequency=10, let_relation="at least"),
        _ifeval("detectable_content:number_placeholders", num_placeholders=10),
        _tulu("verify_keyword_frequency", word="harbor", N=LONG // 11),
        _tulu("validate_frequency_capital_words", N=10, quantifier="at least"),
    ],
)
@pytest.mark.cost
def test_counting_instances_said_apart_costs_linear_time(truth):
    """Class 18 reads each token's runs and loop once, however the instances repeat or differ."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    different = [a + b + c for a in letters for b in letters for c in letters[:12]]  # 8112 words
    for unit in ("HARBOR [name] q ", "harbor and ", "the harbor and "):
        response = unit * (LONG // len(unit))
        assert _seconds(score_item, "ifeval_strict", truth, response) < 2.0
    response = " ".join(f"HARBOR {word} [{word}] q{word}" for word in different)[:LONG]
    assert _seconds(score_item, "ifeval_strict", truth, response) < 2.0
    assert _seconds(score_item, "ifeval_strict", truth, "q" * LONG) < 2.0


@pytest.mark.cost
def test_finding_what_a_response_copies_from_its_prompt_costs_linear_time():
    """Class 19 indexes the prompt's runs of four words once and reads the response once."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = [a + b + c for a in letters for b in letters for c in letters[:12]]
    prompt = " ".join(words)[: LONG // 4] + ". Include the keywords silver and night."
    truth = _ifeval("keywords:existence", keywords=["silver", "night"])
    for response in ((prompt + " ") * 4, "silver night " * (LONG // 13), " ".join(reversed(words))[:LONG]):
        assert _seconds(score_item, "ifeval_strict", truth, response, prompt) < 2.0
