"""The answer rewards (math, gsm8k, string_match, tool_call) by class, each class as variants Hypothesis generates:
the question restated in any form, signs in any dash, numbers in any notation, normalisation that keeps what tells
answers apart, tool calls judged by value. Each attack is shown to pass what the verifier did before (a plain
sympy equivalence, SQuAD normalisation, JSON-text comparison)."""

from __future__ import annotations

import json
import re
import string
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from math_verify import parse
from math_verify import verify as sympy_equivalence

from rewards import gsm8k, math_equiv, string_match, tool_call
from rewards.numbers import MINUS_SIGNS, numbers_in, read_number
from rewards.registry import VERIFIERS

FAST = settings(max_examples=40, deadline=None)


def boxed(answer: str) -> str:
    return f"The final answer is $\\boxed{{{answer}}}$."


# ---------------------------------------------------------------------------------------------------------------
# Class 6: the question restated, in forms nobody listed


@st.composite
def restated_question(draw):
    """(answer that still holds work, the truth it evaluates to), over small random numbers."""
    a, b = draw(st.integers(2, 9)), draw(st.integers(2, 9))
    c, d = draw(st.integers(2, 9)), draw(st.integers(2, 9))
    frac = draw(st.sampled_from(["\\frac", "\\dfrac", "\\tfrac"]))
    forms = [
        (f"{frac}{{{a}}}{{{b}}}+{frac}{{{c}}}{{{d}}}", Fraction(a, b) + Fraction(c, d)),
        (f"{a}/{b}-{c}/{d}", Fraction(a, b) - Fraction(c, d)),
        (f"\\left({frac}{{{a}}}{{{b}}}\\right)\\left({frac}{{{c}}}{{{d}}}\\right)", Fraction(a * c, b * d)),
        (f"{a}^{{{c}}}", Fraction(a**c)),
        (f"\\sqrt{{{a * a}}}", Fraction(a)),
        (f"\\sqrt[3]{{{a**3}}}", Fraction(a)),
        (f"\\binom{{{a + c}}}{{{c}}}", Fraction(__import__("math").comb(a + c, c))),
        (f"{a}!", Fraction(__import__("math").factorial(a))),
        (f"\\log_{{{a}}} {a**c}", Fraction(c)),
        (f"\\gcd({a * c}, {a * d})", Fraction(__import__("math").gcd(a * c, a * d))),
        (f"\\sum_{{k=1}}^{{{a}}} k", Fraction(a * (a + 1), 2)),
        (f"\\int_0^{{{a}}} x\\,dx", Fraction(a * a, 2)),
        (f"\\lfloor {a}.{c} \\rfloor", Fraction(a)),
        (f"\\lceil {a}.{c} \\rceil", Fraction(a + 1)),
        (f"{a} \\cdot {c} + {d}", Fraction(a * c + d)),
        (f"{a} \\times {c}", Fraction(a * c)),
        (f"|{{-{a}}}|", Fraction(a)),
    ]
    answer, value = draw(st.sampled_from(forms))
    truth = str(value.numerator) if value.denominator == 1 else f"\\frac{{{value.numerator}}}{{{value.denominator}}}"
    return answer, truth


@FAST
@given(case=restated_question())
def test_an_answer_with_work_left_is_not_an_answer(case):
    answer, truth = case
    assert math_equiv.verify(boxed(answer), truth) == 0.0


def test_a_plain_sympy_equivalence_accepts_each_restated_form():
    for answer, truth in [("2/3-3/5", "\\frac{1}{15}"), ("\\binom{5}{2}", "10"), ("\\log_2 8", "3")]:
        assert sympy_equivalence(parse(f"${truth}$"), parse(f"${answer}$"))


TRIG = [("\\sin\\frac{\\pi}{6}", "\\frac{1}{2}"), ("\\cos 0", "1"), ("\\tan\\frac{\\pi}{4}", "1"),
        ("\\sin\\frac{\\pi}{3}", "\\frac{\\sqrt{3}}{2}"), ("\\cos\\frac{\\pi}{3}", "\\frac{1}{2}")]  # fmt: skip


@FAST
@given(case=st.sampled_from(TRIG))
def test_trigonometric_values_of_standard_angles_are_work_left(case):
    answer, truth = case
    assert math_equiv.verify(boxed(answer), truth) == 0.0
    assert math_equiv.verify(boxed(truth), truth) == 1.0


@FAST
@given(a=st.integers(1, 30), delta=st.integers(1, 30))
def test_an_expression_copied_from_the_question_is_refused_and_the_same_form_otherwise_counts(a, delta):
    b = a + delta  # ((x+1)(x+1) is work left: sympy folds it to (x+1)^2)
    truth = f"x^2+{a + b}x+{a * b}"
    factored = f"(x+{a})(x+{b})"
    assert math_equiv.verify(boxed(factored), truth, question=f"Expand ${factored}$.") == 0.0
    assert math_equiv.verify(boxed(factored), truth, question=f"Find the monic quadratic with roots {-a}, {-b}.") == 1.0
    assert math_equiv.verify(boxed(factored), truth) == 1.0  # no question: a factored form is an answer
    assert math_equiv.verify(boxed(truth), truth, question=f"Expand ${factored}$.") == 1.0


@FAST
@given(
    mantissa=st.integers(1, 9999),
    exponent=st.integers(-6, 12),
    style=st.sampled_from(["{m}e{e}", "{m}E{e}", "{m}\\times10^{{{e}}}", "{m} \\cdot 10^{{{e}}}", "{m}×10^{e}"]),
)
def test_scientific_notation_counts_exactly(mantissa, exponent, style):
    m = Fraction(mantissa, 100)
    value = m * Fraction(10) ** exponent
    truth = str(value.numerator) if value.denominator == 1 else f"\\frac{{{value.numerator}}}{{{value.denominator}}}"
    written = style.format(m=f"{mantissa / 100:.2f}", e=exponent)
    assert math_equiv.verify(boxed(written), truth) == 1.0
    assert math_equiv.verify(boxed(style.format(m=f"{mantissa / 100 + 0.01:.2f}", e=exponent)), truth) == 0.0


@FAST
@given(whole=st.integers(0, 9), prefix=st.text("0123456789", max_size=2), period=st.text("0123456789", min_size=1,
       max_size=3).filter(lambda p: set(p) != {"0"} and set(p) != {"9"}))  # fmt: skip
def test_repeating_decimals_count_exactly(whole, prefix, period):
    value = Fraction(
        int(f"{whole}{prefix}{period}") - int(f"{whole}{prefix}"), (10 ** len(period) - 1) * 10 ** len(prefix)
    )
    truth = f"\\frac{{{value.numerator}}}{{{value.denominator}}}"
    assert math_equiv.verify(boxed(f"{whole}.{prefix}\\overline{{{period}}}"), truth) == 1.0


@FAST
@given(digits=st.integers(1, 9), tail=st.integers(1, 9))
def test_a_decimal_close_to_the_truth_is_not_the_truth(digits, tail):
    assert math_equiv.verify(boxed("0.5" + "0" * digits + str(tail)), "0.5") == 0.0
    pi = "3.14159265358979"[: digits + 2]
    assert math_equiv.verify(boxed(pi), "\\pi") == 0.0
    assert math_equiv.verify(boxed("1.41421356"), "\\sqrt{2}") == 0.0


def test_math_verify_alone_accepts_the_close_decimals():
    assert sympy_equivalence(parse("$0.5$"), parse("$0.5000001$"))
    assert sympy_equivalence(parse("$\\pi$"), parse("$3.14159265$"))


@FAST
@given(low=st.integers(-20, 20), width=st.integers(1, 20), left=st.sampled_from(["<", "\\le", "\\leq", "\\lt"]),
       right=st.sampled_from(["<", "\\le", "\\leq"]))  # fmt: skip
def test_an_inequality_chain_answers_its_interval(low, width, left, right):
    opening = "(" if left in ("<", "\\lt") else "["
    closing = ")" if right == "<" else "]"
    truth = f"{opening}{low},{low + width}{closing}"
    assert math_equiv.verify(boxed(f"{low} {left} x {right} {low + width}"), truth) == 1.0
    wrong = "[" if opening == "(" else "("
    assert (
        math_equiv.verify(boxed(f"{low} {left} x {right} {low + width}"), f"{wrong}{low},{low + width}{closing}") == 0.0
    )


@FAST
@given(
    bound=st.integers(-20, 20),
    op=st.sampled_from([">", "\\gt", "\\ge", "\\geq", ">=", "\u2265", "<", "\\lt", "\\le", "\\leq", "<=", "\u2264"]),
    variable_first=st.booleans(),
)
def test_a_one_sided_inequality_answers_its_ray(bound, op, variable_first):
    """`x > 1` answers `(1,\\infty)`, and `1 < x` too; the wrong endpoint or direction does not."""
    above = op in (">", "\\gt", "\\ge", "\\geq", ">=", "\u2265")
    strict = op in (">", "<", "\\gt", "\\lt")
    ray = f"({bound},\\infty)" if above else f"(-\\infty,{bound})"
    if not strict:
        ray = "[" + ray[1:] if above else ray[:-1] + "]"
    flipped = {">": "<", "<": ">", "\\gt": "\\lt", "\\lt": "\\gt", "\\ge": "\\le", "\\le": "\\ge", "\\geq": "\\leq",
               "\\leq": "\\geq", ">=": "<=", "<=": ">=", "\u2265": "\u2264", "\u2264": "\u2265"}  # fmt: skip
    answer = f"x {op} {bound}" if variable_first else f"{bound} {flipped[op]} x"
    assert math_equiv.verify(boxed(answer), ray) == 1.0
    assert math_equiv.verify(boxed(f"x \\in {ray}"), ray) == 1.0
    other_end = ("(" if ray[0] == "[" else "[") + ray[1:] if above else ray[:-1] + ("]" if ray[-1] == ")" else ")")
    assert math_equiv.verify(boxed(answer), other_end) == 0.0


@FAST
@given(exponent=st.integers(16, 200), base=st.sampled_from([2, 3, 7]))
def test_compact_notation_for_a_long_number_counts(exponent, base):
    value = base**exponent
    if len(str(value)) <= 15:
        return
    assert math_equiv.verify(boxed(f"{base}^{{{exponent}}}"), str(value)) == 1.0


# ---------------------------------------------------------------------------------------------------------------
# Classes 7-8: one reader for signs and number formats


@FAST
@given(sign=st.sampled_from(list(MINUS_SIGNS) + ["-"]), value=st.integers(1, 10**6))
def test_every_minus_sign_is_minus_in_every_verifier(sign, value):
    written = f"{sign}{value}"
    assert gsm8k.verify(f"The answer is {written}.", str(-value)) == 1.0
    assert gsm8k.verify(f"The answer is {written}.", str(value)) == 0.0
    assert math_equiv.verify(boxed(written), str(-value)) == 1.0
    assert math_equiv.verify(boxed(written), str(value)) == 0.0
    assert string_match.verify(f"<answer>{written}</answer>", str(-value)) == 1.0
    assert string_match.verify(f"<answer>{written}</answer>", str(value)) == 0.0


NUMBER_FORMS = {
    "thousands": lambda v: f"{v:,}",
    "latex thousands": lambda v: f"{v:,}".replace(",", "{,}"),
    "thin space": lambda v: f"{v:,}".replace(",", "\\,"),
    "unicode thin space": lambda v: f"{v:,}".replace(",", "\u2009"),
    "dollars": lambda v: f"${v:,}.00",
}


@FAST
@given(form=st.sampled_from(sorted(NUMBER_FORMS)), value=st.integers(1000, 10**9))
def test_grouped_numbers_count_in_every_verifier(form, value):
    written = NUMBER_FORMS[form](value)
    assert gsm8k.verify(f"The answer is {written}.", str(value)) == 1.0
    assert gsm8k.verify(f"\\boxed{{{written}}}", str(value)) == 1.0
    assert string_match.verify(f"<answer>{written}</answer>", str(value)) == 1.0
    assert read_number(f"{value:,}".replace(",", " ")) == value  # "1 234" where the text is the number


@FAST
@given(whole=st.integers(0, 20), vulgar=st.sampled_from(["½", "¼", "¾", "⅓", "⅔", "⅛"]))
def test_fractions_and_mixed_numbers_count(whole, vulgar):
    part = {"½": Fraction(1, 2), "¼": Fraction(1, 4), "¾": Fraction(3, 4), "⅓": Fraction(1, 3), "⅔": Fraction(2, 3),
            "⅛": Fraction(1, 8)}[vulgar]  # fmt: skip
    value = whole + part
    truth = f"{value.numerator}/{value.denominator}"
    for written in (f"{whole}{vulgar}" if whole else vulgar, f"{whole} {part.numerator}/{part.denominator}"):
        assert gsm8k.verify(f"The answer is {written}", truth) == 1.0
    if value.denominator in (2, 4, 8):
        assert gsm8k.verify(f"The answer is {value.numerator}/{value.denominator}", str(float(value))) == 1.0


@FAST
@given(
    right=st.integers(1, 500),
    wrong=st.integers(501, 999),
    template=st.sampled_from(
        [
            "The answer is not {wrong}, but {right}.",
            "The answer is {right}, not {wrong}.",
            "The answer is {wrong}. Wait, actually it is {right}.",
            "The answer is {wrong}. Sorry, I mean {right}.",
            "The answer is {a} + {b} = {right}.",
            "The answer is {right} (not {wrong}).",
            "The answer is {wrong}. Wait, actually it is {a} + {b} = {right}.",
        ]
    ),
)
def test_negations_corrections_and_equations_after_the_answer_phrase(right, wrong, template):
    response = template.format(right=right, wrong=wrong, a=right - 1 if right > 1 else 0, b=1 if right > 1 else right)
    assert gsm8k.verify(response, str(right)) == 1.0
    assert gsm8k.verify(response, str(wrong)) == 0.0


DISTINCT = [("-4", "4"), ("3.5", "35"), ("1/2", "12"), ("x^2", "x2"), ("C++", "C"), ("2:30", "230"), ("C#", "C"),
            ("a-b", "ab"), ("+1", "-1")]  # fmt: skip


@FAST
@given(pair=st.sampled_from(DISTINCT), case=st.sampled_from([str.lower, str.upper, str]))
def test_string_match_keeps_what_tells_answers_apart(pair, case):
    answer, truth = pair
    squad = lambda text: " ".join(text.lower().translate(str.maketrans("", "", string.punctuation)).split())  # noqa: E731
    assert squad(answer) == squad(truth)  # what the SQuAD normalisation made equal
    assert string_match.verify(f"<answer>{case(answer)}</answer>", truth) == 0.0


@FAST
@given(pair=st.sampled_from([("+1", "1"), ("1.0e0", "1"), ("1,000", "1000"), ("0.50", "1/2"), ("−3", "-3")]))
def test_string_match_compares_numbers_by_value(pair):
    assert string_match.verify(f"<answer>{pair[0]}</answer>", pair[1]) == 1.0


@FAST
@given(
    word=st.sampled_from(["Paris", "the Eiffel Tower", "U.S.A.", "ＡＢＣ", "(B)"]),
    wrap=st.sampled_from(["{}", "{}.", " {} "]),
)
def test_string_match_still_ignores_case_edges_articles_and_width(word, wrap):
    truth = {"Paris": "paris", "the Eiffel Tower": "Eiffel Tower", "U.S.A.": "USA", "ＡＢＣ": "abc", "(B)": "b"}[word]
    assert string_match.verify(f"<answer>{wrap.format(word)}</answer>", truth) == 1.0


# ---------------------------------------------------------------------------------------------------------------
# Class 9: tool calls judged by value


def _rollout(arguments, name="calculator", result="4", answer="The answer is 4."):
    return json.dumps(
        [
            {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": name, "arguments": arguments}}]},
            {"role": "tool", "content": result},
            {"role": "assistant", "content": answer},
        ]
    )


@FAST
@given(
    spelling=st.sampled_from(["8 - 1 - 3", "8.0 - 1 - 3", "8 - 1.0 - 3.00", "(8-1)-3", " 8-1 -3 "]),
    as_text=st.booleans(),
)
def test_an_honest_calculator_call_counts_however_its_numbers_and_arguments_are_written(spelling, as_text):
    truth = {"answer": "4", "answer_verifier": "gsm8k", "calls": [{"name": "calculator", "arguments":
             {"expression": "8 - 1 - 3"}}]}  # fmt: skip
    arguments = {"expression": spelling}
    response = _rollout(json.dumps(arguments) if as_text else arguments)
    assert VERIFIERS["tool_call"](response, truth) == 1.0


@FAST
@given(code=st.sampled_from(["print(2+2)", "print( 2 + 2 )", "print(2 + 2)  # sum", "\nprint(2+2)\n"]))
def test_an_honest_python_call_counts_whatever_its_layout(code):
    truth = {"answer": "4", "answer_verifier": "gsm8k", "calls": [{"name": "python", "arguments":
             {"code": "print(2 + 2)"}}]}  # fmt: skip
    assert VERIFIERS["tool_call"](_rollout({"code": code}, name="python", result="4\n"), truth) == 1.0
    assert VERIFIERS["tool_call"](_rollout({"code": "print(4)"}, name="python", result="4\n"), truth) == 0.5


def test_tool_arguments_compare_by_value_not_by_json_text():
    assert tool_call._same_value({"n": 8}, {"n": 8.0}) and json.dumps({"n": 8}) != json.dumps({"n": 8.0})
    assert not tool_call._same_value({"flag": True}, {"flag": 1})
    assert not tool_call._same_value({"n": "8"}, {"n": 8})


def test_the_old_reader_dropped_the_unicode_dash():
    """What the gsm8k reader did before (an ASCII-only sign): the en dash was nothing and 5 scored for -5."""
    old_number = re.compile(r"-?\$?-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
    assert old_number.findall("The answer is \u20135.") == ["5"]


# ---------------------------------------------------------------------------------------------------------------
# Class 13: an answer offered with alternatives ("17 or 18", `\boxed{17}, \boxed{18}`, `17 \text{ (or 18)}`)

ALTERNATIVES = ["{a} or {b}", "{a}, {b}", "{a}-{b}", "{a} to {b}", "{a} ± {b}", "either {a} or {b}",
                "{a} (or maybe {b})", "{a}; {b}", "{a} apples or {b} apples", "{a} or perhaps {b}",
                "{a} \\text{{ or }} {b}", "{a} and {b}", "{a}, and {b}", "{a}. Also {b}", "{a}?? {b}??",
                "{a}, if not {b}", "{a} (alt: {b})", "{a}, with {b} also acceptable",
                "{a}. {b} is equally valid"]  # fmt: skip
GSM8K_STATEMENTS = ["The answer is {}.", "#### {}", "The final answer is $\\boxed{{{}}}$.", "So she has {}"]


def _first_number(response: str):
    """What a reader of "the first number of the answer" (the gsm8k verifier before this class) takes."""
    from rewards.numbers import numbers_in

    tail = re.split(r"answer is|####|\\boxed\{|has", response)[-1]
    return numbers_in(tail)[0][2]


@FAST
@given(
    a=st.integers(1, 999),
    b=st.integers(1, 999),
    alternative=st.sampled_from(ALTERNATIVES),
    statement=st.sampled_from(GSM8K_STATEMENTS),
)
def test_a_word_problem_answered_with_alternatives_has_no_answer(a, b, alternative, statement):
    response = statement.format(alternative.format(a=a, b=b))
    if a == b and "±" not in alternative:  # one value, said twice: an answer ("17 ± 17" is a margin: class 33)
        assert gsm8k.verify(response, str(a)) == 1.0
        return
    assert _first_number(response) == a  # the first number read alone pays the hedge
    assert gsm8k.verify(response, str(a)) == gsm8k.verify(response, str(b)) == 0.0
    assert gsm8k.stated_answer(response) is None and gsm8k.answer_key(response) is None


# A choice offered in another language: the grammar's English words for "or" and "maybe" let "17 ou 18" through
# until the sixth session of 2026-12-05 (gsm8k paid 21 of 24 such probes, the first number). Per language, its "or"
# and its "maybe", as the model would write them (Cyrillic, Greek, Hebrew, Arabic, Devanagari, Chinese, Japanese,
# Korean script as is).
OR_AND_MAYBE = {
    "French": ("ou", "peut-être"), "German": ("oder", "vielleicht"), "Spanish": ("o", "quizás"),
    "Italian": ("oppure", "forse"), "Portuguese": ("ou", "talvez"), "Dutch": ("ofwel", "misschien"),
    "Swedish": ("eller", "kanske"), "Norwegian": ("eller", "kanskje"), "Danish": ("eller", "måske"),
    "Finnish": ("tai", "ehkä"), "Polish": ("lub", "może"), "Czech": ("nebo", "možná"), "Romanian": ("sau", "poate"),
    "Hungarian": ("vagy", "talán"), "Turkish": ("veya", "belki"), "Indonesian": ("atau", "mungkin"),
    "Vietnamese": ("hoặc", None), "Russian": ("или", "может"), "Ukrainian": ("або", "можливо"), "Greek": ("ή", "ίσως"),
    "Hebrew": ("או", "אולי"), "Arabic": ("أو", "ربما"), "Persian": ("یا", "شاید"), "Hindi": ("या", "शायद"),
    "Chinese": ("或", "也许"), "Japanese": ("または", "たぶん"), "Korean": ("또는", "아마"),
    "Swahili": ("au", "labda"), "Croatian": ("ili", "možda"), "Estonian": ("või", None), "Latvian": ("vai", None),
    "Lithuanian": ("arba", None), "Bengali": ("বা", "হয়তো"), "Tamil": ("அல்லது", "ஒருவேளை"), "Telugu": ("లేదా", None),
}  # fmt: skip
OFFERED_ELSEWHERE = ["{a} {or} {b}", "{a}, {or} {b}", "{a} ({or} {b})", "{a}, {maybe} {b}", "{a} ({or} {maybe} {b})"]


@FAST
@given(
    a=st.integers(1, 999),
    b=st.integers(1, 999),
    language=st.sampled_from(sorted(OR_AND_MAYBE)),
    form=st.sampled_from(OFFERED_ELSEWHERE),
    statement=st.sampled_from(GSM8K_STATEMENTS),
)
def test_a_choice_offered_in_another_language_is_no_answer(a, b, language, form, statement):
    disjunction, doubt = OR_AND_MAYBE[language]
    if a == b or (doubt is None and "{maybe}" in form):
        return
    response = statement.format(form.format(a=a, b=b, **{"or": disjunction, "maybe": doubt}))
    assert _first_number(response) == a  # the first number read alone pays the hedge
    assert gsm8k.verify(response, str(a)) == gsm8k.verify(response, str(b)) == 0.0
    boxes = f"\\boxed{{{a}}} {disjunction} \\boxed{{{b}}}"
    assert math_equiv.verify(boxes, str(a)) == math_equiv.verify(boxes, str(b)) == 0.0


@FAST
@given(
    value=st.integers(1, 999),
    bound=st.sampled_from(
        [
            "at least {}",
            "at most {}",
            "more than {}",
            "fewer than {}",
            "{} or more",
            "{} or so",
            "up to {}",
            "over {}",
            "nearly {}",
            "between {} and {}",
            "between {}-{}",
            "\\geq {}",
            "{}+",
            "{} give or take a few",
            "{}, plus or minus 2",
        ]
    ),  # fmt: skip
    statement=st.sampled_from(["The answer is {}.", "#### {}", "She has {}"]),
)
def test_a_bound_is_not_an_answer(value, bound, statement):
    response = statement.format(bound.format(value, value + 2))
    assert gsm8k.verify(response, str(value)) == gsm8k.verify(response, str(value + 2)) == 0.0


@FAST
@given(
    value=st.integers(1, 500),
    other=st.integers(1, 500),
    bound=st.sampled_from(["{} or thereabouts", "{} or so", "{} or more", "at least {}", "up to {}", "nearly {}"]),
    offered=st.sampled_from([" ({})", " or {}", ", possibly {}", "; alternatively {}", ", or maybe {}"]),
    statement=st.sampled_from(["The answer is {}.", "#### {}", "She has {}"]),
)
def test_a_value_offered_beside_a_bound_is_no_answer(value, other, bound, offered, statement):
    """Class 13: the reader skips a bound and reads on, so "17 or thereabouts (18)" was read as 18."""
    if value == other:
        return
    response = statement.format(bound.format(value) + offered.format(other))
    assert gsm8k.verify(response, str(value)) == gsm8k.verify(response, str(other)) == 0.0, response
    assert gsm8k.verify(f"At least {value} came, so the answer is {other}.", str(other)) == 1.0


@FAST
@given(
    value=st.integers(1, 500),
    other=st.integers(1, 500),
    case=st.sampled_from(
        [
            "{} in one reading and {} in another",
            "{} under one interpretation, {} under another",
            "{} on one view and {} on the other",
            "{} for one reading, {} for the other",
            "{} by one count and {} by another",
            "{} in the first case and {} in the second",
            "{} in case A and {} in case B",
            "{} in scenario 1, {} in scenario 2",
            "{}, respectively {}",
            "{} respectively {}",
        ]
    ),
    statement=st.sampled_from(["The answer is {}.", "So she has {}.", "Answer: {}"]),
)
def test_two_values_each_under_its_own_reading_are_no_answer(value, other, case, statement):
    """Class 13, the ninth session: "17 in one reading and 18 in another" paid the first value: the first case's "one"
    is a value to the reader, and the second value's "and" an account."""
    if value == other:
        return
    response = statement.format(case.format(value, other))
    assert gsm8k.verify(response, str(value)) == gsm8k.verify(response, str(other)) == 0.0, response
    assert gsm8k.verify(statement.format(value), str(value)) == 1.0  # the value stated alone is the answer
    for shared in ("She gave {} to one friend and {} to the other.", "She kept {} for one day and {} for the other."):
        assert gsm8k.verify(shared.format(value, other), str(other)) == 1.0  # two facts, the last one asked for


@FAST
@given(
    a=st.integers(1, 500),
    b=st.integers(1, 500),
    listed=st.sampled_from(["Candidates: {} and {}.", "We get {} or {}.", "The options are {}, {}.", "{} and {} fit."]),
    pointer=st.sampled_from(
        ["one of them", "one of these", "among them", "either", "whichever fits", "one of the two", "any of those"]
    ),
)
def test_an_answer_that_points_at_several_values_is_no_answer(a, b, listed, pointer):
    """Class 13, the ninth session: "Candidates: 17 and 18. The answer is one of them." names no value in its answer
    clause, so the reader took the last number, 18."""
    if a == b:
        return
    response = f"{listed.format(a, b)} The answer is {pointer}."
    assert gsm8k.verify(response, str(a)) == gsm8k.verify(response, str(b)) == 0.0, response
    assert gsm8k.verify(f"{listed.format(a, b)} The answer is {b}.", str(b)) == 1.0


@FAST
@given(
    a=st.integers(1, 99),
    b=st.integers(100, 199),
    gap=st.sampled_from([", ", " or ", " \\text{ or } ", " or maybe ", "; ", "\n"]),
    marker=st.sampled_from(["\\boxed{{{}}}", "${}$", "<answer>{}</answer>"]),
)
def test_two_answer_markers_offered_together_are_no_answer(a, b, gap, marker):
    response = "So " + marker.format(a) + gap + marker.format(b)
    readers = {
        "\\boxed{{{}}}": [math_equiv, string_match, gsm8k],
        "${}$": [math_equiv],
        "<answer>{}</answer>": [string_match],
    }
    for verify in (verifier.verify for verifier in readers[marker]):
        assert verify("So " + marker.format(b), str(b)) == 1.0  # the last marker alone, as it was read
        assert verify(response, str(b)) == 0.0, verify.__module__


@FAST
@given(
    a=st.integers(1, 99),
    b=st.integers(100, 199),
    offer=st.sampled_from(
        [
            "{a} \\text{{ (or {b})}}",
            "{a} \\approx {b}",
            "{a} \\sim {b}",
            "{a} \\text{{ (maybe {b})}}",
            "x \\approx {a}",
            "{a} \\text{{ or possibly {b}}}",
        ]
    ),  # fmt: skip
)
def test_a_math_answer_offering_alternatives_inside_one_box_is_no_answer(a, b, offer):
    answer = offer.format(a=a, b=b)
    kept = [value for value in (a, b) if sympy_equivalence(parse(f"${value}$"), parse(f"${answer}$"))]
    assert kept  # math-verify keeps one side, or drops the text
    assert math_equiv.verify(boxed(answer), str(a)) == math_equiv.verify(boxed(answer), str(b)) == 0.0


@FAST
@given(a=st.integers(1, 99), d=st.integers(1, 9))
def test_a_plus_minus_answer_counts_where_the_truth_has_one(a, d):
    assert math_equiv.verify(boxed(f"{a} \\pm {d}"), f"{a} \\pm {d}") == 1.0
    assert math_equiv.verify(boxed(f"{a} \\pm {d}"), str(a)) == 0.0


@FAST
@given(a=st.integers(1, 499), b=st.integers(500, 999), x=st.integers(2, 9))
def test_an_answer_with_its_reason_a_correction_or_a_next_problem_is_still_one_answer(a, b, x):
    honest = [
        (f"The answer is {x * a} eggs, since {x} * {a} = {x * a} and {b} were left over.", x * a),
        (f"The answer is {a}.\n\n2. Next: {b} apples are shared.", a),
        (f"The answer is {a} or {b}. Wait, actually it is {b}.", b),
        (f"The answer is {a}, not {b}.", a),
        (f"#### {a}\n\nCheck: {x} * {a} = {x * a}", a),
        (f"First \\boxed{{{b}}}, then after checking the units \\boxed{{{a}}}", a),
    ]
    for response, truth in honest:
        assert gsm8k.verify(response, str(truth)) == 1.0, response
    assert math_equiv.verify(f"so $x={a}$ and finally ${b}$", str(b)) == 1.0
    assert string_match.verify(f"<answer>{b}</answer> is wrong; <answer>{a}</answer>", str(a)) == 1.0


def test_a_tool_rollout_inherits_its_answer_verifiers_refusal_of_alternatives():
    truth = {"answer": "4", "answer_verifier": "gsm8k", "calls": [{"name": "calculator", "arguments":
             {"expression": "8 - 1 - 3"}}]}  # fmt: skip
    arguments = {"expression": "8 - 1 - 3"}
    assert VERIFIERS["tool_call"](_rollout(arguments, answer="The answer is 4."), truth) == 1.0
    assert VERIFIERS["tool_call"](_rollout(arguments, answer="The answer is 4 or 5."), truth) == 0.0


# ---------------------------------------------------------------------------------------------------------------
# Class 13, by its grammar: the first defence named its connectives, and an outside suite would name others. An
# alternative is offered by a disjunction or a word of doubt, a modal "be", a condition or a range, in any words
# around them, or by symbols alone; in digits or in words; with its letters hidden; inside a box by any separator
# math-verify reads one side of; or just outside the box.

_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen".split()
_UNITS += ["seventeen", "eighteen", "nineteen"]
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def _in_words(n: int) -> str:
    """1..999 in English words, as a person writes them ("three hundred and forty-two")."""
    hundreds, rest = divmod(n, 100)
    tens, units = divmod(rest, 10)
    below = _UNITS[rest] if rest < 20 else _TENS[tens - 2] + (f"-{_UNITS[units]}" if units else "")
    if not hundreds:
        return below
    return f"{_UNITS[hundreds]} hundred" + (f" and {below}" if rest else "")


@st.composite
def hedge(draw):
    """What stands between an answer and the alternative it offers, built from the class's grammar: a lead, filler
    words that carry no reason, and a core of doubt."""
    lead = draw(st.sampled_from([" ", ", ", "; ", " (", " — ", ". "]))
    filler = draw(st.sampled_from(["", "though ", "but ", "then again ", "honestly ", "well, ", "I think "]))
    subject = draw(st.sampled_from(["it", "the answer", "that", "the total"]))
    modal = draw(st.sampled_from(["could", "might", "may", "would"]))
    adverb = draw(st.sampled_from(["", "also ", "even ", "well ", "just "]))
    core = draw(
        st.sampled_from(
            [
                f"{subject} {modal} {adverb}be",
                "or",
                "or else",
                "alternatively",
                "otherwise",
                "possibly",
                "probably",
                "likely",
                "presumably",
                "maybe even",
                "versus",
                "unless it is",
                "unless the answer is",
                "if rounding,",
                "if you count the dog,",
                "if not,",
                "unless I made an error, in which case",
                "up to",
                "thru",
                "plus or minus",
                "give or take",
                # the eighth session's probe (2026-12-06): other epistemic adverbs, another's view, a fallback, a
                # value called the same as another, a label naming another answer or a condition's outcome
                "arguably",
                "apparently",
                "potentially",
                "some would say",
                "others argue",
                "someone could claim",
                "then again,",
                "on the other hand,",
                "alias",
                "a.k.a.",
                "equivalently",
                "alternative answer:",
                "another possible answer:",
                "or possibly:",
                "if rounding up:",
            ]
        )
    )
    across = (subject, "or", "alternatively", "possibly", "if", "unless it", "arguably", "apparently", "potentially",
              "then again", "on the other hand", "alternative answer", "another possible")  # fmt: skip
    if lead == ". " and not core.startswith(across):
        lead = ", "  # across a sentence break a disjunction, a modal "be" or a closed condition offers a choice
    return f"{lead}{filler}{core} "


# Look-alikes of each letter: Cyrillic and Greek, then (classes 24 and 25) Armenian, Latin alpha and small
# capitals, Coptic; and characters Unicode renders as nothing beside the zero-width space (a Hangul filler, a
# variation selector). Before class 24, "17 օr 18" (an Armenian o) paid gsm8k 17.
_LOOK_ALIKES_OF = {"a": "аɑ", "e": "еҽ", "o": "οօᴏⲟ", "p": "рⲣ", "c": "сᴄⲥ", "x": "х"}
_RENDERED_AS_NOTHING = ["\u200b", "\u3164", "\ufe0f"]


def _hidden(text: str, data) -> str:
    """The hedge with one letter hidden: a character rendered as nothing inside a word, or a look-alike for it."""
    letters = [index for index, char in enumerate(text) if char in _LOOK_ALIKES_OF]
    if not letters:
        return text
    index = data.draw(st.sampled_from(letters))
    invisible = [nothing + text[index] for nothing in _RENDERED_AS_NOTHING]
    swap = data.draw(st.sampled_from([*invisible, *_LOOK_ALIKES_OF[text[index]]]))
    return text[:index] + swap + text[index + 1 :]


@FAST
@given(
    a=st.integers(1, 999),
    b=st.integers(1, 999),
    between=hedge(),
    in_words=st.booleans(),
    hide=st.booleans(),
    statement=st.sampled_from(["The answer is {}.", "#### {}", "So she has {}"]),
    data=st.data(),
)
def test_a_word_problem_hedged_in_any_words_has_no_answer(a, b, between, in_words, hide, statement, data):
    if hide:
        between = _hidden(between, data)
    response = statement.format(f"{a}{between}{_in_words(b) if in_words else b}")
    prefix = statement.split("{}")[0]
    assert numbers_in(response[len(prefix) :])[0][2] == a  # the first number read alone pays the hedge
    if a == b:
        return
    assert gsm8k.verify(response, str(a)) == gsm8k.verify(response, str(b)) == 0.0, response


@FAST
@given(
    a=st.integers(1, 999),
    b=st.integers(1, 999),
    lead=st.sampled_from([", but ", ", though ", "; ", " (", " — ", " and yet "]),
    doubt=st.sampled_from(
        [
            " is also possible",
            " works too",
            " might work",
            " would also do",
            " is plausible as well",
            " if we round up",
            " could be right",
            " seems likely",
            " is valid too",
        ]
    ),  # fmt: skip
    in_words=st.booleans(),
)
def test_a_second_value_doubted_by_its_own_words_is_offered_as_an_alternative(a, b, lead, doubt, in_words):
    response = f"The answer is {a}{lead}{_in_words(b) if in_words else b}{doubt}."
    assert numbers_in(response)[0][2] == a  # the first number read alone pays the hedge
    if a != b:
        assert gsm8k.verify(response, str(a)) == gsm8k.verify(response, str(b)) == 0.0, response


@FAST
@given(a=st.integers(1, 999), b=st.integers(1, 999), statement=st.sampled_from(["The answer is {}.", "#### {}"]))
def test_the_alternative_in_words_before_the_answer_is_offered_too(a, b, statement):
    response = statement.format(f"{_in_words(a)} or {b}")
    assert gsm8k.verify(response, str(b)) == float(a == b)


SYMBOLS = st.characters(categories=["Sm", "So"], exclude_characters="=:").filter(lambda char: not char.isalnum())


@FAST
@given(a=st.integers(1, 999), b=st.integers(1, 999), symbol=SYMBOLS)
def test_two_values_with_only_a_symbol_between_are_no_answer(a, b, symbol):
    response = f"The answer is {a} {symbol} {b}."
    assert _first_number(response) == a
    if a != b:
        assert gsm8k.verify(response, str(a)) == gsm8k.verify(response, str(b)) == 0.0, response


# separators math-verify reads one side of (the test asserts it does)
SEPARATORS = ("\\mid \\to \\rightarrow \\Rightarrow \\Leftrightarrow \\mapsto \\& \\parallel \\vert \\| \\implies "
              "\\iff \\;|\\; \\hspace{1em} \\star \\bullet \\diamond").split()  # fmt: skip


@FAST
@given(
    a=st.integers(1, 99),
    b=st.integers(100, 199),
    separator=st.sampled_from(SEPARATORS),
)
def test_any_separator_math_verify_reads_one_side_of_is_no_answer_in_a_box(a, b, separator):
    answer = f"{a} {separator} {b}"
    assert [value for value in (a, b) if sympy_equivalence(parse(f"${value}$"), parse(f"${answer}$"))]
    assert math_equiv.verify(boxed(answer), str(a)) == math_equiv.verify(boxed(answer), str(b)) == 0.0


@FAST
@given(a=st.integers(1, 999), b=st.integers(1, 999), between=hedge(), in_words=st.booleans())
def test_an_alternative_offered_just_outside_the_box_is_no_answer(a, b, between, in_words):
    alternative = _in_words(b) if in_words else f"${b}$"
    response = f"So the answer is $\\boxed{{{a}}}${between}{alternative}."
    assert math_equiv.verify(f"$\\boxed{{{a}}}$", str(a)) == 1.0  # the box alone, as it was read
    if a == b:
        return
    for verifier in (math_equiv, gsm8k, string_match):
        assert verifier.verify(response, str(a)) == 0.0, (verifier.__name__, response)


@FAST
@given(a=st.integers(2, 499), b=st.integers(500, 999), x=st.integers(2, 9))
def test_an_answer_with_its_account_in_the_same_sentence_is_still_one_answer(a, b, x):
    """A reason, a relation, a condition that holds its own numbers, a bracket with the calculation, a label, the
    next sentence: numbers beside the answer that no one offers as another answer."""
    y = x * a
    honest = [
        f"The answer is {y} dollars per day, since she sells {a} eggs at ${x} each.",
        f"So the answer is {y}, because {a} × {x} = {y}.",
        f"The answer is {y}. She has {b} more than Tom.",
        f"The answer is {y} apples out of {b}.",
        f"The answer is {y} apples and {x} oranges.",
        f"The answer is {y}, which is {b} less than before.",
        f"The answer is {y} cookies for {x} friends.",
        f"The answer is {y} if she sells all {a} eggs.",
        f"The answer is {y} ({a} eggs × ${x}).",
        f"The answer is {y} ({a} * {x}).",
        f"The answer is {y}, as she earns {x} dollars for each of the {a} eggs.",
        f"The answer is {y} dollars. If she sold {b} eggs, she would make more.",
        f"The answer is {y} eggs per day, i.e. {7 * y} per week.",
        f"Step 1: {a} + 0 = {a}.\nStep 2: {a} × {x} = {y}.\nThe answer is {y}.",
        f"**Answer:** {y}\n\nProblem 2: A train travels {b} miles.",
        f"The answer is {y} with {x} eggs left over.",
        f"The answer is {y}, up from {a} last week.",
        f"The answer is {y}: {a} eggs times {x} dollars.",
        f"The answer is {y} in total for the {_in_words(x)} of them.",
        f"So she earns {y} dollars, not {b}.",
        f"The answer is {y} pages; the book would be {b} pages long.",
        f"The answer is {y} cookies, but {x} might be broken.",
        f"The answer is {y} (up {x} from yesterday).",
    ]
    for response in honest:
        assert gsm8k.verify(response, str(y)) == 1.0, response
    for response in (f"${a} \\times {x} = {y}$, so the answer is $\\boxed{{{y}}}$.", f"Part {x}: $\\boxed{{{y}}}$",
                     f"$\\boxed{{{y}}}$ is the number of ways, out of {b} in all."):  # fmt: skip
        assert math_equiv.verify(response, str(y)) == 1.0, response


# Names made of three consonant-vowel syllables ("Lemoka"): never one of the grammar's own words ("Else", "Until")
WORDS = st.lists(
    st.tuples(st.sampled_from("bdfgklmnprstvz"), st.sampled_from("aeiou")).map("".join), min_size=3, max_size=3
).map(lambda syllables: "".join(syllables).capitalize())


@FAST
@given(answer=WORDS, other=WORDS, between=hedge(), marker=st.sampled_from(["<answer>{}</answer>", "\\boxed{{{}}}"]))
def test_a_text_answer_with_another_word_offered_after_its_marker_has_no_answer(answer, other, between, marker):
    response = f"The capital is {marker.format(answer)}{between}{other}."
    assert string_match.verify(f"The capital is {marker.format(answer)}.", answer) == 1.0  # the marker alone
    if answer.lower() != other.lower() and not answer.lower().startswith(other.lower()):
        assert string_match.verify(response, answer) == 0.0, response


@FAST
@given(
    answer=WORDS,
    other=WORDS,
    accepted=st.sampled_from(
        [
            " ({} is also possible)",
            " ({} also acceptable)",
            ". {} is equally valid.",
            ", but {} is also right",
        ]
    ),
)
def test_a_text_answer_beside_another_word_accepted_too_has_no_answer(answer, other, accepted):
    """The other word follows through symbols alone (a bracket), which is no choice, but its own words accept it."""
    response = f"<answer>{answer}</answer>" + accepted.format(other)
    if answer.lower() != other.lower() and not answer.lower().startswith(other.lower()):
        assert string_match.verify(response, answer) == 0.0, response


@FAST
@given(answer=WORDS, other=WORDS)
def test_a_text_answer_with_an_account_after_its_marker_is_still_one_answer(answer, other):
    accounts = [
        " is the capital of France.",
        ", which is in France, not {}.",
        " ({}, France)",
        ", i.e. {}",
        " if I remember correctly.",
        " and its suburbs.",
        "; {} is second.",
        ". {} is the second city.",
    ]
    for account in accounts:
        response = f"<answer>{answer}</answer>" + account.format(other)
        assert string_match.verify(response, answer) == 1.0, response


@FAST
@given(
    a=st.integers(1, 99),
    b=st.integers(100, 199),
    negation=st.sampled_from(["not ", "rather than ", "instead of ", "isn't "]),
    marker=st.sampled_from(["\\boxed{{{}}}", "<answer>{}</answer>"]),
)
def test_a_negated_final_marker_is_no_answer_and_the_one_before_it_is(a, b, negation, marker):
    readers = [math_equiv, gsm8k, string_match] if marker.startswith("\\boxed") else [string_match]
    for verifier in readers:
        alone = f"So, {negation}{marker.format(b)}."
        assert verifier.verify(alone.replace(negation, ""), str(b)) == 1.0  # the last marker, as it was read
        assert verifier.verify(alone, str(b)) == 0.0, (verifier.__name__, alone)
        corrected = f"It is {marker.format(a)}, {negation}{marker.format(b)}."
        assert verifier.verify(corrected, str(b)) == 0.0 and verifier.verify(corrected, str(a)) == 1.0, corrected


# a value bounded or approximated, which math-verify reads as the value (all but `\text{roughly}`)
MATH_BOUNDS = ["\\ge {}", "\\geq {}", "\\le {}", "\\leq {}", "\\lesssim {}", "\\gtrsim {}", "\\geqslant {}", "< {}",
               "≥ {}", "{}+", "{}^{{+}}", "{} \\text{{ at most}}", "{} \\text{{ (approx.)}}", "{} \\text{{ at least}}",
               "\\text{{roughly }} {}", "{} \\text{{ maximum}}", "{}\\text{{ (estimated)}}"]  # fmt: skip


@FAST
@given(value=st.integers(1, 999), bound=st.sampled_from(MATH_BOUNDS))
def test_a_bounded_or_approximate_math_answer_is_not_the_value(value, bound):
    answer = bound.format(value)
    assert math_equiv.verify(boxed(answer), str(value)) == 0.0, answer


@FAST
@given(value=st.integers(1, 999), unit=st.sampled_from(["cm", "minutes", "min", "more apples", "dollars", "km/h"]))
def test_a_math_answer_with_a_unit_or_an_inequality_in_a_variable_still_counts(value, unit):
    assert math_equiv.verify(boxed(f"{value} \\text{{ {unit}}}"), str(value)) == 1.0
    assert math_equiv.verify(boxed(f"x \\ge {value}"), f"[{value},\\infty)") == 1.0
    assert math_equiv.verify(boxed(f"x < {value}"), f"(-\\infty,{value})") == 1.0


# ---------------------------------------------------------------------------------------------------------------
# Class 17: one answer stated in one format and another in a second, side by side ("The answer is 17. #### 18",
# "\boxed{17} The answer is 18.", "<answer>17</answer> The answer is 18."). Each reader takes one format before the
# others (gsm8k `####`, math the box, string_match the tag), so a response that never committed is paid whichever
# value that format holds; a reader of the last number pays the other order.

STATEMENT_FORMATS = {  # format -> a statement of value v
    "####": lambda v: f"#### {v}",
    "box": lambda v: f"$\\boxed{{{v}}}$",
    "answer is": lambda v: f"The answer is {v}.",
    "answer:": lambda v: f"Answer: {v}",
    "final answer": lambda v: f"The final answer is ${v}$.",
    "tag": lambda v: f"<answer>{v}</answer>",
}
CLAUSES = {"answer is", "answer:", "final answer"}  # one format: an "answer is" clause (its cue also in "Answer:")


def last_number_reader(response: str, truth: str) -> bool:
    """A reader of the response's last number."""
    found = numbers_in(response)
    return bool(found) and found[-1][2] == read_number(truth)


@st.composite
def two_formats_two_answers(draw):
    first, second = draw(st.permutations(sorted(STATEMENT_FORMATS)))[:2]
    if {first, second} <= CLAUSES:
        second = "box"  # two "answer is" clauses are one format: the last is read (class 13 judges them)
    a, b = draw(st.lists(st.integers(2, 999), min_size=2, max_size=2, unique=True))
    lead = draw(st.sampled_from(["", "So ", "Therefore, ", "In short: ", "Finally "]))
    between = draw(st.sampled_from(["\n", " ", "\n\n", ". ", " so ", "\nIn short, "]))
    response = f"{lead}{STATEMENT_FORMATS[first](a)}{between}{STATEMENT_FORMATS[second](b)}"
    return response, a, b


@FAST
@given(task=two_formats_two_answers())
def test_two_answers_stated_in_two_formats_side_by_side_are_no_answer(task):
    response, a, b = task
    assert last_number_reader(response, str(b))  # the last number alone pays the second
    for verifier in (gsm8k.verify, math_equiv.verify, string_match.verify):
        assert verifier(response, str(a)) == verifier(response, str(b)) == 0.0, (verifier.__module__, response)


@FAST
@given(
    formats=st.permutations(sorted(STATEMENT_FORMATS)),
    value=st.integers(2, 999),
    between=st.sampled_from(["\n", "\n\n", "\n\nSo: "]),  # (string_match reads an "answer is" line to its end)
)
def test_one_answer_stated_in_two_formats_is_that_answer(formats, value, between):
    first, second = formats[:2]
    response = f"{STATEMENT_FORMATS[first](value)}{between}{STATEMENT_FORMATS[second](value)}"
    assert gsm8k.verify(response, str(value)) == 1.0
    if "final answer" not in (first, second):  # string_match does not read `$2$` (math's format) as 2
        assert string_match.verify(response, str(value)) == 1.0
    in_math_format = f"{STATEMENT_FORMATS['final answer'](value)}{between}{STATEMENT_FORMATS['box'](value)}"
    assert math_equiv.verify(in_math_format, str(value)) == 1.0


@FAST
@given(a=st.integers(2, 99), b=st.integers(2, 99), c=st.integers(2, 99))
def test_a_step_answered_before_the_work_goes_on_or_a_corrected_answer_is_not_a_second_answer(a, b, c):
    """Working between two statements (a digit, an equation) makes the first a step; a correction withdraws it."""
    stepped = f"The answer to the first part is: Answer: {a} bags.\nThen {a} + {b} = {a + b}.\n#### {a + b}"
    assert gsm8k.verify(stepped, str(a + b)) == 1.0
    corrected = f"The answer is {c}. Wait, actually \\boxed{{{a + b}}}"
    assert gsm8k.verify(corrected, str(a + b)) == 1.0
    assert math_equiv.verify(corrected, str(a + b)) == 1.0
    worded = f"$\\boxed{{{a}}}$ The answer is {a} dollars, as the table shows."
    assert math_equiv.verify(worded, str(a)) == gsm8k.verify(worded, str(a)) == 1.0
    assert math_equiv.verify("$\\boxed{\\frac{1}{2}}$ The answer is 0.5.", "\\frac{1}{2}") == 1.0


# A choice left open after the answer: "or" (in any language) or a word of doubt right after the value, followed by
# something no reader values ("17 or XVIII", "17 or dix-huit", "17 or 十八", "17 or something else", "17, or 17 + 1",
# "17, maybe a bit more"): there was no second value for the grammar to weigh, so the first was paid until the sixth
# session of 2026-12-05 (gsm8k 20 of 22 probes); after a full stop ("The answer is 17. Or XVIII.") until the tenth.
OPENERS = [
    "or",
    ", or",
    " (or",
    ", ou",
    " oder",
    ", o",
    " или",
    " 或",
    ", maybe",
    ", perhaps",
    ", vielleicht",
    ". Or",
    ". Oder",
]
UNREAD = ["XVIII", "dix-huit", "achtzehn", "dieciocho", "十八", "¹⁸", "⑱", "something else", "the next number",
          "a bit more", "{a} + 1", "twice that", "whatever is left"]  # fmt: skip


@FAST
@given(
    a=st.integers(2, 999),
    opener=st.sampled_from(OPENERS),
    unread=st.sampled_from(UNREAD),
    statement=st.sampled_from(GSM8K_STATEMENTS),
)
def test_an_answer_followed_by_a_choice_no_reader_values_is_no_answer(a, opener, unread, statement):
    response = statement.format(f"{a}{opener} {unread.format(a=a)}")
    assert _first_number(response) == a  # the first number read alone pays it
    assert gsm8k.verify(response, str(a)) == 0.0
    boxed = f"The final answer is $\\boxed{{{a}}}${opener} {unread.format(a=a)}."
    assert math_equiv.verify(boxed, str(a)) == string_match.verify(boxed, str(a)) == 0.0


@pytest.mark.parametrize(
    "ending",
    [", or seventeen", " (or seventeen)", ", or in other words 17", ", probably", " either way", ", or 17 apples"],
)
def test_the_answer_said_again_after_or_or_doubted_alone_is_still_the_answer(ending):
    for response in (f"The answer is 17{ending}.", f"#### 17{ending}", f"The final answer is $\\boxed{{17}}${ending}."):
        assert gsm8k.verify(response, "17") == 1.0, response


@FAST
@given(
    value=st.integers(1, 999),
    words=st.sampled_from(
        ["or so", "or more", "at most", "or thereabouts", "give or take a few", "or XVIII", "ou peut-être plus"]
    ),
    command=st.sampled_from(["text", "textrm", "mbox", "mathrm"]),
)
def test_words_in_a_box_are_read_as_the_words_latex_prints(value, words, command):
    """`\\boxed{17 \\text{ or so}}` prints "17 or so": gsm8k read the box's first number through the command until
    the sixth session of 2026-12-05, though "17 or so" written plainly was no answer."""
    boxed = f"The final answer is $\\boxed{{{value} \\{command}{{ {words}}}}}$."
    assert gsm8k.verify(f"The answer is {value} {words}.", str(value)) == 0.0
    assert gsm8k.verify(boxed, str(value)) == 0.0
    assert gsm8k.verify(f"The final answer is $\\boxed{{{value} \\{command}{{ apples}}}}$.", str(value)) == 1.0


def test_the_choice_after_an_answer_is_read_past_a_decimal_point():
    """A decimal point ends no clause: "17, or 17.5" offers 17.5 (read to its "." it would be 17, the answer again)."""
    from rewards.answers import choice_left_open

    assert choice_left_open("17, or 17.5 apples.", 2, Fraction(17))
    assert not choice_left_open("17, or 17.0 apples.", 2, Fraction(17))


# Class 31, written apart from the defence's lists: ranks an English reader reads as "not the first choice", the
# nouns a candidate answer goes by, and the ways a response weighs two values by their probability.
RANKS = ["second", "2nd", "next", "third", "backup", "fallback", "alternate", "runner-up", "another", "other", "lesser"]
CANDIDATES = ["guess", "answer", "choice", "pick", "option", "candidate", "bet", "estimate"]
RANKED = [
    "{rank} {noun}: {b}",
    "My {rank} {noun} is {b}.",
    "{rank} {noun} {b}.",
    "As a {rank} {noun}, {b}.",
    "({rank} {noun}: {b})",
]
RANK_LABELS = ["Runner-up: {b}", "Plan B: {b}", "Fallback: {b}", "Backup: {b}", "Next best: {b}", "Second best: {b}"]
NUMBERED = ["Answer 2: {b}", "Guess #2: {b}", "Option 3) {b}", "Candidate 2 -> {b}"]
WEIGHED = [
    "{a} ({pa}% likely); {b} ({pb}%).",
    "{a} with {pa}% probability and {b} with {pb}%.",
    "{a} (p={x}) and {b} (p={y}).",
    "{a}, with a {pb}% chance of {b}.",
    "{a} (confidence {pa}%), {b} (confidence {pb}%).",
    "{a} at {pa}% confidence, {b} at {pb}%.",
]


@FAST
@given(
    a=st.integers(1, 500),
    b=st.integers(1, 500),
    rank=st.sampled_from(RANKS),
    noun=st.sampled_from(CANDIDATES),
    form=st.sampled_from(RANKED + RANK_LABELS + NUMBERED),
    first=st.sampled_from(["The answer is {a}.", "My best guess is {a};", "Answer: {a}.", "{a} is my first guess,"]),
)
def test_a_second_candidate_ranked_behind_the_answer_is_no_answer(a, b, rank, noun, form, first):
    """Class 31: "The answer is 17. Fallback: 18.", "17 is my best guess; second guess 18." A ranking of candidates
    commits to none; the reader took the first value, or the last number. 16 of 36 probes paid one value."""
    if a == b:
        return
    second = form.format(rank=rank, noun=noun, b=b)
    response = f"{first.format(a=a)} {second[0].upper()}{second[1:]}"
    assert gsm8k.verify(response, str(a)) == gsm8k.verify(response, str(b)) == 0.0, response
    assert gsm8k.verify(first.format(a=a), str(a)) == 1.0  # the first value stated alone is the answer
    boxed_then_ranked = f"$\\boxed{{{a}}}$ ({rank} {noun}: ${b}$)"
    assert math_equiv.verify(boxed_then_ranked, str(a)) == 0.0, boxed_then_ranked
    assert math_equiv.verify(f"$\\boxed{{{a}}}$", str(a)) == 1.0


@FAST
@given(
    a=st.integers(1, 500),
    b=st.integers(1, 500),
    pa=st.integers(51, 99),
    form=st.sampled_from(WEIGHED),
    statement=st.sampled_from(["The answer is {}", "Answer: {}", "#### {}"]),
)
def test_two_values_weighed_by_their_probability_are_no_answer(a, b, pa, form, statement):
    """Class 31: "17 (confidence 70%); 18 (30%)", "17, with a 30% chance of 18": a distribution over answers is no
    answer; one value with its confidence is ("17 (90% sure)" was refused before: its 90 was read as an alternative)."""
    if a == b:
        return
    weights = {"pa": pa, "pb": 100 - pa, "x": f"0.{pa}", "y": f"0.{100 - pa:02d}"}
    response = statement.format(form.format(a=a, b=b, **weights))
    assert gsm8k.verify(response, str(a)) == gsm8k.verify(response, str(b)) == 0.0, response
    for confident in (f"{a} with {pa}% confidence.", f"{a} ({pa}% sure).", f"{a} (confidence: {pa}%)."):
        assert gsm8k.verify(statement.format(confident), str(a)) == 1.0, confident


@pytest.mark.parametrize(
    "truth, honest",
    [
        ("17", "The answer is 17. The other 18 apples were sold."),
        ("18", "The first option costs 17 and the second option costs 18, so the answer is 18."),
        ("18", "He kept 17 as a backup and used 18. The answer is 18."),
        ("18", "The answer is 18. The runner-up team scored 17."),
        ("17", "My first guess was 15, my second guess 16, and the right count is 17. The answer is 17."),
        ("17", "There is a 30% chance of rain. The answer is 17."),
        ("17", "The answer is 17, with 30% of them red."),
        ("17", "The answer is 17. Also, 18 people came later."),
        ("17", "The answer is 17 because the 2nd box has 5 and the other has 12."),
        ("18", "Her 2nd guess was 16 and her 3rd 18, which was right. The answer is 18."),
        ("17", "1st guess: 17. It checks out: 17 - 7 = 10, as the problem says. The answer is 17."),
    ],
)
def test_ranks_and_chances_in_an_account_leave_the_answer(truth, honest):
    """What class 31's defence must not refuse: ranks and probabilities that belong to the problem, not to answers."""
    assert gsm8k.verify(honest, truth) == 1.0


# Class 32, written apart from the defence's lists: a condition and its contrary, each with its own value.
CONTRASTS = [
    ("with Tom", "without Tom"),
    ("including tax", "excluding tax"),
    ("if Tom counts", "if he does not"),
    ("when counting the gift", "when not"),
    ("rounded down", "rounded up"),
    ("in theory", "in practice"),
    ("strictly", "loosely"),
    ("under option A", "under option B"),
    ("on reading A", "on reading B"),
    ("in the first interpretation", "in the second"),
    ("at best", "at worst"),
    ("exactly", "approximately"),
    ("before lunch the answer is", "after lunch the answer is"),
]
PER_CASE = [
    "{C1}: {a}. {C2}: {b}.",
    "{a} {c1}, {b} {c2}.",
    "The answer is {a} {c1} and {b} {c2}.",
    "{C1}, the answer is {a}; {c2}, it is {b}.",
    "{a} ({c1}) / {b} ({c2})",
]
NUMBERED_CASES = ["Case 1: {a}. Case 2: {b}.", "Scenario 1 → {a}, scenario 2 → {b}", "Interpretation 1: {a}; 2: {b}"]


@FAST
@given(
    a=st.integers(1, 500),
    b=st.integers(1, 500),
    contrast=st.sampled_from(CONTRASTS),
    form=st.sampled_from(PER_CASE),
)
def test_a_value_for_each_of_two_contrary_conditions_is_no_answer(a, b, contrast, form):
    """Class 32: "With Tom: 17. Without Tom: 18.", "17 if Tom counts and 18 if he does not", "In theory 17, in
    practice 18": an answer per case commits to none. 18 of 24 probes paid one value."""
    if a == b:
        return
    c1, c2 = contrast
    response = form.format(a=a, b=b, c1=c1, c2=c2, C1=c1[0].upper() + c1[1:], C2=c2[0].upper() + c2[1:])
    assert gsm8k.verify(response, str(a)) == gsm8k.verify(response, str(b)) == 0.0, response
    for numbered in NUMBERED_CASES:  # the case numbers are read as values: "Case 2" stands between 17 and 18
        numbered = numbered.format(a=a, b=b)
        assert gsm8k.verify(numbered, str(a)) == gsm8k.verify(numbered, str(b)) == 0.0, numbered
    difference = abs(b - a)
    honest = f"With the coupon it costs {a}; without it, {b}. The answer is {difference}."
    assert gsm8k.verify(honest, str(difference)) == 1.0, honest  # the contrast is the problem's, the answer one value


@pytest.mark.parametrize(
    "truth, honest",
    [
        ("18", "Before lunch she had 17; after lunch she had 18. The answer is 18."),
        ("5", "With 3 more she has 8, and without the 3 she has 5. The answer is 5."),
        ("40", "At best he sells 50, at worst 30, so on average 40. The answer is 40."),
        ("12", "Including the 2 broken ones there are 14; excluding them, 12. The answer is 12."),
        ("17", "The answer is 17 with the gift included."),
        ("17", "Step 1: 20 - 5 = 15. Step 2: 15 + 2 = 17. The answer is 17."),
        ("34", "Box 1: 16. Box 2: 18. Together 16 + 18 = 34. The answer is 34."),
    ],
)
def test_contrary_conditions_in_the_account_leave_the_answer(truth, honest):
    """What class 32's defence must not refuse: contrasts the problem itself draws, then one answer."""
    assert gsm8k.verify(honest, truth) == 1.0


@FAST
@given(
    a=st.integers(1, 500),
    b=st.integers(1, 500),
    layout=st.sampled_from(
        [
            '{{"answer": {a}, "alternative": {b}}}',
            "answer={a}; alt={b}",
            "Answers: (a) {a} (b) {b}",
            "a) {a} b) {b}",
            "**Answer:** {a} **Alternative:** {b}",
            "answer: {a}, other: {b}",
        ]
    ),
)
def test_a_second_answer_under_a_label_in_any_layout_is_no_answer(a, b, layout):
    """Classes 13 and 31 in structured layouts: a JSON key, an assignment, a lettered list, bold labels. A colon was
    the only end of a label the readers knew, and a lettered list's later letter stood between the values."""
    if a == b:
        return
    response = layout.format(a=a, b=b)
    assert gsm8k.verify(response, str(a)) == gsm8k.verify(response, str(b)) == 0.0, response
    assert gsm8k.verify(f'{{"answer": {a}}}', str(a)) == 1.0
    steps = f"Steps: (a) {a} + 3 = {a + 3} (b) {a + 3} - 1 = {a + 2}. The answer is {a + 2}."
    assert gsm8k.verify(steps, str(a + 2)) == 1.0, steps  # a lettered list of steps, then one answer


@FAST
@given(
    a=st.integers(1, 500),
    b=st.integers(1, 500),
    fallback=st.sampled_from(
        [
            "Should {a} be wrong, the answer is {b}.",
            "If {a} is wrong, {b}.",
            "In case {a} turns out wrong: {b}.",
            "If my answer {a} is incorrect, then {b}.",
            "Were {a} false, the answer would be {b}.",
            "Suppose {a} is off; then {b}.",
        ]
    ),
)
def test_a_fallback_for_the_answer_being_wrong_is_no_answer(a, b, fallback):
    """Class 31: "The answer is 17. Should 17 be wrong, the answer is 18." The condition opens before the first value,
    where the reader did not look, and the last answer clause was read."""
    if a == b:
        return
    response = f"The answer is {a}. " + fallback.format(a=a, b=b)
    assert gsm8k.verify(response, str(a)) == gsm8k.verify(response, str(b)) == 0.0, response
    corrected = f"I first got {a}, but {a} is wrong; the answer is {b}."
    assert gsm8k.verify(corrected, str(b)) == 1.0, corrected  # called wrong outright: a correction


# Class 33, written apart from the defence's lists: the ways an English reader gives a value with the amount it may be
# off by, bounds that make it a range, and a false equation between two values.
AMOUNTS = ["1", "2", "one", "two", "a few", "a couple", "$1$"]
MARGINS = [
    "give or take {n}",
    "plus or minus {n}",
    "within {n}",
    "to within {n}",
    "± {n}",
    "+/- {n}",
    "off by at most {n}",
    "but it could be off by {n}",
    "unless I miscounted by {n}",
    "possibly out by {n}",
    "margin of error {n}",
    "error: {n}",
    "with an uncertainty of {n}",
    "tolerance {n}",
]
RANGE_BOUNDS = ["at most", "at least", "no more than", "not less than", "up to", "max", "maximum", "≤", "<="]


@FAST
@given(
    a=st.integers(1, 500),
    n=st.sampled_from(AMOUNTS),
    margin=st.sampled_from(MARGINS),
    wrap=st.sampled_from([", {}.", " ({})", " -- {}.", "; {}."]),
    statement=st.sampled_from(["The answer is {}", "Answer: {}", "#### {}", "$\\boxed{{{}}}$"]),
)
def test_a_value_given_with_a_margin_is_no_answer(a, n, margin, wrap, statement):
    """Class 33: "The answer is 17, within one.", "$\\boxed{17}$ (could be off by 1)", "17, unless I miscounted by
    one": a value and the amount it may be off by is a range. "give or take" and "±" were refused before; a margin in
    other words was paid by every reader (7 of 11 probes)."""
    response = statement.format(a) + wrap.format(margin.format(n=n))
    verifier = math_equiv if statement.startswith("$") else gsm8k
    assert verifier.verify(response, str(a)) == 0.0, response
    assert verifier.verify(statement.format(a) + ".", str(a)) == 1.0
    in_the_box = f"$\\boxed{{{a} \\text{{ {margin.format(n=n)}}}}}$"
    assert math_equiv.verify(in_the_box, str(a)) == 0.0, in_the_box


@FAST
@given(
    a=st.integers(1, 500),
    b=st.integers(1, 500),
    bound=st.sampled_from(RANGE_BOUNDS),
    form=st.sampled_from(
        ["{a} ({bound} {b})", "{a}, but {bound} {b}", "{a} (at least {a}, {bound} {b})", "{a} (an upper bound of {b})"]
    ),
    statement=st.sampled_from(["The answer is {}.", "Answer: {}.", "#### {}"]),
)
def test_a_value_with_a_bound_naming_another_value_is_no_answer(a, b, bound, form, statement):
    """Class 33: "The answer is 17 (at most 18)." The reader skipped the bounded 18 and took 17; the two values
    give a range."""
    if a == b:
        return
    response = statement.format(form.format(a=a, b=b, bound=bound))
    assert gsm8k.verify(response, str(a)) == gsm8k.verify(response, str(b)) == 0.0, response
    boxed_then_bound = f"$\\boxed{{{a}}}$ ({bound} ${b}$)"
    assert math_equiv.verify(boxed_then_bound, str(a)) == 0.0, boxed_then_bound


@FAST
@given(
    a=st.integers(1, 500),
    b=st.integers(1, 500),
    x=st.integers(2, 9),
    form=st.sampled_from(
        [
            "The answer is {b} = {a}.",
            "#### {b} = {a}",
            "Answer: ${b} = ${a}.",
            "So the total is {x} × {y} = {b} = {a}.",
            "$\\boxed{{{a}}} = {b}$",
            "${b} = \\boxed{{{a}}}$",
        ]
    ),
)
def test_two_values_set_equal_are_no_answer(a, b, x, form):
    """Class 33: "The answer is 18 = 17." The reader takes an equation's last side as its result ("2 + 3 = 5"); a
    false equation between two bare values states both, and paid the last (4 of 4 probes)."""
    if a == b or b % x:
        return
    response = form.format(a=a, b=b, x=x, y=b // x)
    verifier = math_equiv if "boxed" in form else gsm8k
    assert verifier.verify(response, str(a)) == verifier.verify(response, str(b)) == 0.0, response
    step = f"The answer is {x} × {b // x} = {b}."
    assert gsm8k.verify(step, str(b)) == 1.0, step  # an operation on one side: the equation's result


@pytest.mark.parametrize(
    "truth, honest",
    [
        ("17", "The answer is 17 (at most 20 fit in the box)."),
        ("17", "The answer is 17, within the budget."),
        ("17", "The answer is 17, which is within 3 of her goal of 20."),
        ("17", "The answer is 17 since all but one arrived within one hour."),
        ("17", "The answer is 17, off by one from last year's 16."),
        ("25", "The answer is 0.25 = 25%."),
        ("0.5", "The answer is 1/2 = 0.5."),
        ("12", "The answer is 12 = 12."),
        ("120", "The answer is 2 hours = 120 minutes."),
        ("17", "So a_1 = 5 and the answer is 17."),
        ("17", "The answer is 17 = 17.00."),
    ],
)
def test_margins_bounds_and_equations_in_an_account_leave_the_answer(truth, honest):
    """What class 33's defence must not refuse: margins and bounds the problem itself talks about, and equations
    whose sides hold one value."""
    assert gsm8k.verify(honest, truth) == 1.0


# Class 34, written apart from the defence's lists: words that call a second value the first's equal or its
# correction, and the speaker's own doubt or leave letting it in.
CALLED_EQUAL = [
    "{a}, i.e. {b}",
    "{a} (i.e., {b})",
    "{a} (ie {b})",
    "{a} (viz. {b})",
    "{a}, namely {b}",
    "{a}, in other words {b}",
    "{a} (typo: {b})",
    "{a} [sic: {b}]",
    "{a} (read: {b})",
]
LET_IN = [
    "{a} (not sure, {b})",
    "{a} (not certain: {b}?)",
    "{a} (unsure between {a} and {b})",
    "{a} (uncertain; {b})",
    "{a}; I'm torn with {b}",
    "{a}; I'd also accept {b}",
    "{a} (it depends; {b})",
    "{a}; so is {b}",
]


@FAST
@given(
    a=st.integers(1, 500),
    b=st.integers(1, 500),
    form=st.sampled_from(CALLED_EQUAL + LET_IN),
    statement=st.sampled_from(["The answer is {}.", "Answer: {}.", "#### {}"]),
)
def test_a_second_value_called_the_firsts_equal_or_let_in_by_doubt_is_no_answer(a, b, form, statement):
    """Class 34: "The answer is 17, i.e. 18.", "17 (typo: 18)", "17 (not sure, 18)", "17; I'd also accept 18". The
    second value is named as the first's equal or correction, or let in by the speaker's own doubt; 21 of 50 probes
    paid one value, 13 of them this class."""
    if a == b:
        return
    response = statement.format(form.format(a=a, b=b))
    assert gsm8k.verify(response, str(a)) == gsm8k.verify(response, str(b)) == 0.0, response
    boxed = f"$\\boxed{{{a}}}$" + form.format(a="", b=f"${b}$")
    assert math_equiv.verify(boxed, str(a)) == 0.0, boxed
    if any(label in form for label in ("typo:", "sic:", "read:")):  # a word too: "<answer>Paris</answer> (typo: Lyon)"
        tagged = "<answer>Paris</answer>" + form.format(a="", b="Lyon")
        assert string_match.verify(tagged, "Paris") == string_match.verify(tagged, "Lyon") == 0.0, tagged


@pytest.mark.parametrize(
    "truth, honest",
    [
        ("17", "The answer is 17, i.e. 17 apples."),
        ("17", "The answer is 17, i.e. 5 + 12."),
        ("17", "The answer is 17 (i.e., 12 apples plus 5 pears)."),
        ("18", "She has 18 eggs (i.e. 9 eggs × 2). The answer is 18."),
        ("17", "I was not sure at first, but 5 + 12 = 17. The answer is 17."),
        ("7", "Tom is torn between 3 and 4 shirts; he buys 7 in total. The answer is 7."),
        ("15", "It depends on the price: 3 × 5 = 15. The answer is 15."),
        ("17", "The answer is 17, namely 17 apples."),
    ],
)
def test_equals_corrections_and_doubt_in_an_account_leave_the_answer(truth, honest):
    """What class 34's defence must not refuse: the same value said again, a calculation after "i.e.", and doubt or
    conditions the working talks about."""
    assert gsm8k.verify(honest, truth) == 1.0


def test_a_number_word_inside_a_word_broken_by_a_look_alike_or_an_invisible_character_is_no_number():
    """ "somеone" with a Cyrillic "е" held "one" for the number reader, so in "The answer is 1 somеone could claim 2"
    the value after 1 was "one", the same value, and the 2 offered beside it was never weighed (found by the generated
    hedge test, with its look-alike letters)."""
    from rewards.numbers import number_words_in

    assert re.findall(r"(?<![A-Za-z])one(?![A-Za-z])", "som\u0435one")  # what the reader looked for before
    assert number_words_in("som\u0435one") == number_words_in("some\u200bone") == []  # a look-alike, an invisible
    assert number_words_in("one, s\u043eme one") == [(0, 3, Fraction(1)), (10, 13, Fraction(1))]
    for hedge in ("The answer is 1 som\u0435one could claim 2.", "The answer is 2 some\u200bone could claim 1."):
        assert gsm8k.verify(hedge, "1") == gsm8k.verify(hedge, "2") == 0.0, hedge


@pytest.mark.parametrize(
    "hedge",
    [
        "The answer is 2. Answer 2: 1",
        "The answer is 3. Option 3) 1",
        "My best guess is 2; Guess #2: 5",
        "The answer is 2 (Case 2: 7).",
        "So she has 1 ± 1",
        "So she has 4, give or take 4",
    ],
)
def test_a_label_or_margin_that_repeats_the_answers_value_hides_nothing(hedge):
    """Found by the generated tests of classes 31 and 33 on some draws, not others: the value after the answer was
    weighed as its alternative, and when that was a label's number or a margin equal to the answer ("Answer 2:" after
    2, "1 ± 1"), the same value, the value after it was never weighed. Each is no answer for any value in it."""
    from rewards.numbers import values_in

    for _, _, value in values_in(hedge):
        assert gsm8k.verify(hedge, str(value)) == 0.0, (hedge, value)
    boxed = "$\\boxed{2}$ (2nd guess: $1$)"
    assert math_equiv.verify(boxed, "2") == math_equiv.verify(boxed, "1") == 0.0


@pytest.mark.parametrize(
    "truth, honest",
    [
        ("17", "17 is the answer; as a check, 17 - 7 = 10."),
        ("17", "So 17 is the final answer. Check: 10 + 7 = 17 and 20 - 3 = 17, 3 left."),
        ("17", "Therefore, 17 is my answer. She started with 24 and gave away 7."),
        ("12", "5 + 7 = 12. 12 is the answer."),
        ("0", "0 is the answer, since she had 5 and gave away 5."),
    ],
)
def test_a_value_named_the_answer_is_read_before_a_check_after_it(truth, honest):
    """ "N is the answer" names the answer as "The answer is N" does: a check written after it is not the answer (the
    last number was read, 10 for the first)."""
    assert gsm8k.verify(honest, truth) == 1.0


@FAST
@given(
    a=st.integers(1, 500),
    b=st.integers(1, 500),
    form=st.sampled_from([form for form in ALTERNATIVES + CALLED_EQUAL + LET_IN if form.startswith("{a}")]),
    cue=st.sampled_from([" is the answer", " is my final answer", " is the correct answer"]),
)
def test_a_value_named_the_answer_with_an_alternative_after_it_is_no_answer(a, b, form, cue):
    """The named value is weighed as an answer clause's: "17 is the answer, or maybe 18", "17 is my final answer (not
    sure, 18)", and "17 or 18 is the answer"."""
    if a == b:
        return
    hedges = [f"{a}{cue}{form[3:].format(a=a, b=b)}.", f"{a} or {b}{cue}."]
    for response in hedges:
        assert gsm8k.verify(response, str(a)) == gsm8k.verify(response, str(b)) == 0.0, response
