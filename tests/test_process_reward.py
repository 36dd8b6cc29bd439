"""The process reward (rewards/process.py): a step checker that reads the problem and the response, never the truth."""

from __future__ import annotations

import inspect
import time

import pytest

from rewards.process import MAX_STEPS, check_steps, process_score

PROBLEM = "Tom has 10 apples. He gives away 9. Then he finds 8 more. How many apples does Tom have now?"
WORKED = "Tom has 10 apples and gives away 9. Then he finds 8 more. 10 - 9 = 1. 1 + 8 = 9. The answer is 9."
FRACTIONS = "Find $\\frac{4}{7} + \\frac{3}{4}$."


def naive_score(problem: str, response: str) -> float:
    """What a step reward without grounding, novelty or use would pay: the number of true equations (capped at 1
    per equation, summed) -- the reward a policy farms by writing more of them."""
    return float(sum(step.true for step in check_steps(problem, response)))


def test_a_worked_answer_whose_steps_lead_to_its_answer_scores_one():
    assert process_score(PROBLEM, WORKED) == 1.0
    assert [step.text for step in check_steps(PROBLEM, WORKED)] == ["10 - 9 = 1", "1 + 8 = 9"]


def test_a_bare_answer_has_no_steps_and_scores_zero():
    assert check_steps(PROBLEM, "The answer is 9.") == []
    assert process_score(PROBLEM, "The answer is 9.") == 0.0


def test_a_false_step_and_the_steps_built_on_it_earn_nothing():
    steps = check_steps(PROBLEM, "10 - 9 = 2. 2 + 8 = 10. The answer is 10.")
    assert [(s.true, s.grounded) for s in steps] == [(False, True), (True, False)]  # 2 was never computed
    assert process_score(PROBLEM, "10 - 9 = 2. 2 + 8 = 10. The answer is 10.") == 0.0


def test_latex_chains_fractions_and_products_are_read_exactly():
    chain = "$\\frac{4}{7} + \\frac{3}{4} = \\frac{16}{28} + \\frac{21}{28} = \\frac{%s}{%s}$."
    right = chain % (37, 28) + " The final answer is $\\boxed{\\frac{37}{28}}$."
    wrong = chain % (7, 11) + " The final answer is $\\boxed{\\frac{7}{11}}$."
    assert process_score(FRACTIONS, right) == 1.0
    assert process_score(FRACTIONS, wrong) == 0.0  # one false side makes the chain false
    product = check_steps("What is $7 \\cdot 3 - 5$?", "$7 \\cdot 3 - 5 = 21 - 5 = 16$. The answer is 16.")
    assert [(s.true, s.credited) for s in product] == [(True, True)]


def test_equations_with_variables_are_not_arithmetic_steps():
    steps = check_steps("Solve for $x$: $4x + 9 = 37$.", "$4x + 9 = 37$ so $4x = 28$ and 28 = 4x and $x = 7$.")
    assert steps == []


@pytest.mark.parametrize(
    "padding, why",
    [
        (" 9 * 1 = 9. 10 + 0 = 10. 8 * 1 = 8. 9 - 0 = 9.", "identities"),
        (" 10 - 9 = 1. 9 - 8 = 1. 10 - 9 = 1.", "repeats of results already computed"),
        (" 1 + 1 = 2. 2 + 2 = 4. 3 + 3 = 6. 4 + 4 = 8.", "arithmetic on numbers of its own"),
        (" 10 + 8 = 18. 10 + 9 = 19. 9 + 8 = 17. 10 * 8 = 80.", "true, grounded results it never uses"),
        (" 9 + 9 = 18. 18 - 9 = 9.", "a detour back to a value it had"),
    ],
)
def test_padding_a_worked_answer_with_true_equations_lowers_its_score(padding, why):
    padded = WORKED.replace(" The answer", padding + " The answer")
    assert naive_score(PROBLEM, padded) > naive_score(PROBLEM, WORKED), "the attack pays a naive step reward"
    assert process_score(PROBLEM, padded) < process_score(PROBLEM, WORKED), why


def test_many_true_equations_without_working_score_less_than_one_honest_step():
    farm = " ".join(f"{a} + {b} = {a + b}." for a in range(1, 30) for b in range(1, 4)) + " The answer is 9."
    assert naive_score(PROBLEM, farm) >= MAX_STEPS - 1
    assert process_score(PROBLEM, farm) < 0.05 < process_score(PROBLEM, "10 - 9 = 1. 1 + 8 = 9. The answer is 9.")


def test_an_answer_listing_many_numbers_does_not_make_every_step_used():
    steps = "10 + 8 = 18. 10 + 9 = 19. 9 + 8 = 17. 10 - 9 = 1."
    listed = process_score(PROBLEM, f"{steps} The answer is 18, 19, 17, 1.")
    assert listed <= 0.25  # only the first number counts as the answer


def test_hostile_arithmetic_is_bounded_in_time_and_never_raises():
    hostile = "2 ^ 99999999 = 1. " + "(" * 5000 + "1" + ")" * 5000 + " + 1 = 2. " + "1/0 = 1. " + "9" * 5000 + " = 1. "
    start = time.process_time()
    assert 0.0 <= process_score(PROBLEM, hostile * 40) <= 1.0
    assert time.process_time() - start < 2.0


@pytest.mark.cost
def test_a_long_run_of_digits_costs_linear_time_where_a_nested_regex_backtracks_cubically():
    import re

    naive_chain = re.compile(r"[\d\s.+\-*/^()]*\d[\d\s.+\-*/^()]*(?:=[\d\s.+\-*/^()]*\d[\d\s.+\-*/^()]*)+")
    start = time.process_time()
    naive_chain.findall("1" * 600 + " x = 2")  # how the chains were first read
    naive = time.process_time() - start
    start = time.process_time()
    process_score(PROBLEM, "1" * 20_000 + " x = 2. " + "1=" * 5_000 + " The answer is 9.")
    ours = time.process_time() - start
    assert ours < 0.5 and naive > 0.1, (ours, naive)


def test_the_step_checker_reads_only_the_problem_and_the_response():
    assert list(inspect.signature(process_score).parameters) == ["problem", "response"]
    assert list(inspect.signature(check_steps).parameters) == ["problem", "response"]


def test_the_shipped_chosen_answers_score_above_the_rejected_ones():
    import json

    from tests.helpers import REPO_ROOT

    rows = [json.loads(line) for line in (REPO_ROOT / "data/embedded/preference_train.jsonl").open()]
    arithmetic = [row for row in rows if "=" in row["chosen"][0]["content"]]
    chosen = [process_score(r["prompt"][-1]["content"], r["chosen"][0]["content"]) for r in arithmetic]
    rejected = [process_score(r["prompt"][-1]["content"], r["rejected"][0]["content"]) for r in arithmetic]
    assert sum(chosen) / len(chosen) > sum(rejected) / len(rejected) + 0.3
    assert sum(c < r for c, r in zip(chosen, rejected)) / len(chosen) < 0.02


def test_working_written_after_the_final_answer_counts_like_working_before_it():
    problem = "Tom has 7 bags with 3 apples each and gives away 5. How many are left?"
    before = process_score(problem, "7 * 3 = 21. 21 - 5 = 16. The answer is 16.")
    after = process_score(problem, "The answer is 16. Here is why: 7 * 3 = 21, and 21 - 5 = 16.")
    boxed_first = process_score(problem, "\\boxed{16}\n\nWorking: 7 * 3 = 21. 21 - 5 = 16.")
    assert before == after == boxed_first == 1.0
