"""The answer verifiers: gsm8k, math, string_match (in-process; the pool's timeout is tested elsewhere)."""

from __future__ import annotations

import re
import threading
import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards import VERIFIERS
from rewards.answers import last_boxed
from rewards.math_equiv import extract_answer
from rewards.math_equiv import verify as math_equiv_verify
from rewards.numbers import numbers_in

gsm8k, math, string_match = VERIFIERS["gsm8k"], VERIFIERS["math"], VERIFIERS["string_match"]


# ---------------------------------------------------------------------------------------------------------------
# gsm8k


@pytest.mark.parametrize(
    "response, truth",
    [
        ("She has 3 + 4 = 7 apples.\n#### 7", "7"),
        ("Total: 1,234 dollars.\n#### 1,234", "1234"),
        ("The cost is $1,234.", "1,234"),
        ("So 12 - 30 = -18. The answer is -18.", "-18"),
        ("It takes 2.50 hours", "2.5"),
        ("The answer is 18 eggs, since 3 * 6 = 18 and 2 were left over earlier.", "18"),  # after "The answer is"
        ("#### 42\nI used 3 steps.", "42"),  # after ####, not the last number
        ("Therefore \\boxed{72} is right; 9 more steps", "72"),
        ("-3.5", "-3.5"),
        ("x = 18.00", "18"),
    ],
)
def test_gsm8k_correct(response, truth):
    assert gsm8k(response, truth) == 1.0


@pytest.mark.parametrize(
    "response, truth",
    [
        ("She has 3 + 4 = 7 apples.\n#### 8", "7"),
        ("The answer is 18, plus 2.", "2"),  # the answer is what follows "The answer is"
        ("I am not sure.", "7"),
        ("Total 1234.5", "1234"),
        ("7 apples and then 12", "7"),  # last number
        ("-18", "18"),
    ],
)
def test_gsm8k_wrong(response, truth):
    assert gsm8k(response, truth) == 0.0


def test_gsm8k_ground_truth_must_be_a_number():
    with pytest.raises(ValueError):
        gsm8k("#### 3", "three")


def test_number_and_boxed_extraction():
    found = [value for _, _, value in numbers_in("It costs $1,234.50 and -$5, (1,2) 12345, .5 and 42.")]
    assert found == [Fraction("1234.50"), -5, 1, 2, 12345, Fraction(1, 2), 42]
    assert last_boxed(r"so \boxed{\frac{1}{\sqrt{2}}} then \boxed{3}") == "3"
    assert last_boxed(r"so \boxed{\frac{1}{\sqrt{2}}}") == r"\frac{1}{\sqrt{2}}"
    assert last_boxed(r"\boxed 5 done") == "5"
    assert last_boxed(r"\boxed{\frac{1}{2}") is None  # unbalanced (truncated)
    assert last_boxed("no box") is None


# ---------------------------------------------------------------------------------------------------------------
# math


@pytest.mark.parametrize(
    "response, truth",
    [
        (r"so the answer is $\boxed{0.5}$", r"\frac{1}{2}"),
        (r"$\boxed{1/2}$", r"\frac{1}{2}"),
        (r"\boxed{\dfrac{1}{2}}", "0.5"),
        (r"\boxed{2\sqrt{2}}", r"\sqrt{8}"),
        (r"\boxed{1+x}", "x+1"),
        (r"\boxed{x^2 + 2x + 1}", "(x+1)^2"),
        (r"\boxed{(1, 2]}", "(1,2]"),
        (r"\boxed{[0, \infty)}", r"[0,\infty)"),
        (r"\boxed{(3, -1)}", "(3,-1)"),
        (r"\boxed{\{2, 1\}}", r"\{1,2\}"),
        (r"\boxed{50\%}", "50"),
        (r"\boxed{50}", r"50\%"),
        (r"\boxed{50\%}", "0.5"),
        (r"\boxed{1,000}", "1000"),
        (r"\boxed{\frac{\sqrt{3}}{2}}", r"\frac{1}{2}\sqrt{3}"),
        (r"\boxed{x = 2}", "2"),
        (r"\boxed{10\text{ cm}}", "10"),
        ("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.", "0.75"),
        ("We get $x = 3$ and then $y = 5$, so the total is $8$.", "8"),
        ("8", "8"),
        (r"\boxed{9^{9^{9^9}}}", r"9^{9^{9^9}}"),  # a tower is compared as a string, never evaluated
    ],
)
def test_math_equivalent(response, truth):
    assert math(response, truth) == 1.0


@pytest.mark.parametrize(
    "response, truth",
    [
        (r"\boxed{0.33}", r"\frac{1}{3}"),
        (r"\boxed{0.5}", r"\frac{1}{3}"),
        (r"\boxed{\sqrt{2}}", "2"),
        (r"\boxed{x - 1}", "x+1"),
        (r"\boxed{[1, 2]}", "(1,2]"),
        (r"\boxed{(2, 1)}", "(1,2)"),
        (r"\boxed{1, 2, 3}", "2"),  # hedging with several answers
        (r"\boxed{3.14}", r"\pi"),
        (r"\boxed{4.9999}", "5"),
        ("I could not solve it. Here is a long explanation with the number 5 in it " * 3, "5"),  # no final answer
        (r"\boxed{7} but the final answer is 5", "5"),  # boxed wins: one answer only
        (r"\boxed{9^{9^{9^9}}}", "3"),
    ],
)
def test_math_not_equivalent(response, truth):
    assert math(response, truth) == 0.0


# The problem's own expression, boxed: what an RL policy (SmolLM2, RLVR lr 1e-5) learnt to answer -- 10 of its 13
# "right" validation answers. sympy finds each equal to the truth; none of them is an answer.
RESTATED_QUESTIONS = [
    (r"The final answer is $\boxed{\frac{2}{5} + \frac{6}{7}}$.", r"\frac{44}{35}"),  # "Find 2/5 + 6/7"
    (r"The final answer is $\boxed{\frac{2}{3} - \frac{3}{5}}$.", r"\frac{1}{15}"),
    (r"The final answer is $\boxed{\frac{4}{5} \cdot \frac{5}{6}}$.", r"\frac{2}{3}"),
    (r"$8 \cdot 1 - 1 = 7$. The final answer is $\boxed{8 - 1}$.", "7"),
    (r"The final answer is $\boxed{y + 8 + 7y + 1}$.", "8y+9"),  # "Simplify y + 8 + 7y + 1"
    (r"\boxed{2 \times 3}", "6"),
    (r"\boxed{\sqrt{3}+\sqrt{3}}", r"2\sqrt{3}"),
    (r"\boxed{x = 8 - 1}", "7"),
]


def test_math_refuses_an_expression_copied_from_the_question_and_accepts_the_same_form_otherwise():
    expand = "Expand $(x+2)(x+3)$."
    assert math_equiv_verify(r"\boxed{(x+2)(x+3)}", "x^2+5x+6", question=expand) == 0.0
    assert math_equiv_verify(r"\boxed{x^2+5x+6}", "x^2+5x+6", question=expand) == 1.0
    roots = "Write the monic quadratic with roots $-2$ and $-3$."
    assert math_equiv_verify(r"\boxed{(x+2)(x+3)}", "x^2+5x+6", question=roots) == 1.0
    assert math_equiv_verify(r"\boxed{7}", "7", question="Add $3$ and $4$ to get 7.") == 1.0  # numbers restate nothing


@pytest.mark.parametrize("response, truth", RESTATED_QUESTIONS)
def test_math_refuses_the_question_restated_as_its_answer(response, truth):
    from math_verify import parse
    from math_verify import verify as naive_equivalence

    answer = extract_answer(response)
    assert naive_equivalence(parse(f"${truth}$"), parse(f"${answer}$"))  # what a plain sympy check accepts
    assert math(response, truth) == 0.0


@pytest.mark.parametrize(
    "response, truth",
    [
        (r"\boxed{\frac{6}{8}}", r"\frac{3}{4}"),  # unreduced, but a number
        (r"\boxed{5x+x^2+6}", "x^2+5x+6"),  # reordered
        (r"\boxed{x^2-4}", "(x-2)(x+2)"),  # expanded form of a factored truth
        (r"\boxed{(x+2)(x+3)}", "x^2+5x+6"),  # factored form of an expanded one: without the question, an answer
        (r"\boxed{1+\sqrt{2}}", r"\sqrt{2}+1"),  # unlike terms
        (r"\boxed{-\frac{1}{12}}", r"-\frac{1}{12}"),
        (r"\boxed{2x - 3}", "2x-3"),
        (r"\boxed{(1, -2)}", "(1,-2)"),
    ],
)
def test_math_finished_answers_in_other_forms_still_count(response, truth):
    assert math(response, truth) == 1.0


def test_math_list_ground_truth_accepts_any():
    assert math(r"\boxed{3}", ["2", "3"]) == 1.0
    assert math(r"\boxed{4}", ["2", "3"]) == 0.0


def test_math_extraction_order():
    # the box before Minerva's line (the same value written two ways: two different values are no answer)
    assert extract_answer(r"first \boxed{1} then \boxed{\frac{1}{2}}. The final answer is 0.5") == r"\frac{1}{2}"
    assert extract_answer("Final Answer: The final answer is $7$. I hope it is correct.") == "7"
    assert extract_answer("so $a=1$ and finally $b = 2$") == "b = 2"
    assert extract_answer("  42  ") == "42"
    assert extract_answer("word " * 40) is None


@pytest.mark.parametrize(
    "answer",
    [
        r"9^{9^{9^9}}",
        "9^(9^(9^9))",
        "9**9**9",
        "2^{1000000000}",
        "(" * 200 + "1" + ")" * 200,
        r"\frac{" * 40 + "1" + "}{2}" * 40,
        "1" * 5000,
    ],
)
def test_math_adversarial_answers_finish_fast(answer):
    start = time.process_time()  # CPU time: what the attack costs, which another job's load does not inflate
    assert math(rf"\boxed{{{answer}}}", "3") == 0.0
    assert time.process_time() - start < 2.0


def test_math_works_outside_the_main_thread():
    """math-verify's own signal.alarm timeouts would raise here; ours are off (the pool enforces the timeout)."""
    results = []
    thread = threading.Thread(target=lambda: results.append(math(r"\boxed{\frac{2}{4}}", "0.5")))
    thread.start()
    thread.join()
    assert results == [1.0]


# ---------------------------------------------------------------------------------------------------------------
# string_match


@pytest.mark.parametrize(
    "response, truth",
    [
        ("The answer is: The Eiffel Tower.", "eiffel tower"),
        ("<answer> Paris </answer>", "paris"),
        ("Reasoning...\nAnswer: an Apple", "apple"),
        (r"so \boxed{Blue}", "blue"),
        ("Yes!", "yes"),
    ],
)
def test_string_match(response, truth):
    assert string_match(response, truth) == 1.0


@pytest.mark.parametrize(
    "response, truth",
    [
        ("The answer is: Rome", "paris"),
        ("<answer>Paris, France</answer>", "paris"),
        ("", "paris"),
        ("Paris is nice. Answer: London", "paris"),
    ],
)
def test_string_match_wrong(response, truth):
    assert string_match(response, truth) == 0.0


@pytest.mark.parametrize(
    "truth, answer",
    [
        ("1/2", r"\frac{1}{2}"),
        ("0.5", r"\frac{1}{2}"),
        (r"\frac{1}{3}", "0.33"),
        ("3", "4"),
        ("3", "3.0"),
        (r"-\frac{3}{4}", "-0.75"),
        ("1,000.5", "1000.5"),
        (r"\frac{2}{4}", r"\frac{1}{2}"),
        ("7", r"\frac{14}{2}"),
        ("(1,2]", "(1,2)"),
        ("(1,2]", "(1.0,2]"),
        ("(1,2)", "(2,1)"),
        ("(3,-1)", "(3, -1)"),
        ("[0,5)", "[0,4)"),
        ("(1,2,3)", "(1,2)"),
        ("0.125", r"\frac{1}{8}"),
        ("2.5", "2.50"),
        ("0.1", "0.2"),
    ],
)
def test_quick_verdicts_agree_with_math_verify(truth, answer):
    """The shortcut that skips the LaTeX parser must reach math-verify's own verdict whenever it decides."""
    from math_verify import parse, verify

    from rewards.math_equiv import _EXTRACTION, _canonical, _quick_verdict

    quick = _quick_verdict(_canonical(truth), _canonical(answer))
    assert quick is not None
    reference = verify(
        parse(f"${truth}$", extraction_config=_EXTRACTION, parsing_timeout=None),
        parse(f"${answer}$", extraction_config=_EXTRACTION, parsing_timeout=None),
        timeout_seconds=None,
    )
    assert quick == reference


@pytest.mark.parametrize("minus", ["\u2212", "\uff0d", "\ufe63"])
def test_unicode_minus_signs_are_minus(minus):
    """ "−5" (U+2212, or a fullwidth or small hyphen-minus) read as 5 scored a wrong sign as right."""
    assert gsm8k(f"The answer is {minus}5.", "5") == 0.0
    assert gsm8k(f"The answer is {minus}5.", "-5") == 1.0
    assert math(f"\\boxed{{{minus}5}}", "5") == 0.0
    assert math(f"\\boxed{{{minus}5}}", "-5") == 1.0


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(["$", "$$", "\\(", "\\)", "\\[", "\\]", "a", " ", "\n", "<answer>", "</answer>", "<ANSWER>"]),
        max_size=30,
    ).map("".join)
)
def test_the_linear_marker_scans_find_what_the_patterns_find(text):
    from rewards.answers import last_two_tagged
    from rewards.math_equiv import last_two_math_spans

    spans = re.findall(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", text, re.S)
    found = last_two_math_spans(text)
    assert (found[-1].content if found else None) == (next(g for g in spans[-1] if g) if spans else None)
    tags = re.findall(r"<answer>(.*?)</answer>", text, re.S | re.I)
    found = last_two_tagged(text)
    assert (found[-1].content if found else None) == (tags[-1] if tags else None)
