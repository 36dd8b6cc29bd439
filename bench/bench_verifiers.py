"""Verifications per second of each verifier through a warm VerifierPool (one worker per core).

    python bench/bench_verifiers.py [--rows-scale 1.0] [--workers N]

Workloads are synthetic but shaped like RL batches: several samples per prompt (so a ground truth recurs), chain-of-
thought text around the final answer, about half of the answers right, some in another but equivalent form. Targets
(2 cores): math >= 500/s, code >= 20/s. On a shared machine the measured rate moves with the load (the load average
is printed with it); the CPU time per verification, summed over every process involved, does not: cores / that
time is what an otherwise idle machine would reach.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rewards import VerifierPool  # noqa: E402

SAMPLES_PER_PROMPT = 8
TARGETS = {"math": 500, "code": 20}
FILLER = (
    "Let us think step by step. First we note that the quantity doubles, so 2 * 3 = 6 and then we add 4 to get "
    "$6 + 4 = 10$. Checking the constraint again with $x = 2$ gives a consistent value. "
)


def math_rows(prompts: int, rng: random.Random) -> list[dict]:
    rows = []
    for _ in range(prompts):
        truth, right, equivalent, wrong = _math_problem(rng)
        for _ in range(SAMPLES_PER_PROMPT):
            answer = rng.choices([right, equivalent, wrong], weights=[5, 2, 3])[0]
            response = FILLER * rng.randint(1, 3) + f"Therefore the answer is $\\boxed{{{answer}}}$."
            rows.append({"dataset": "math", "ground_truth": truth, "response": response})
    return rows


def _math_problem(rng: random.Random) -> tuple[str, str, str, str]:
    """(ground truth, the same answer as written by the model, an equivalent form, a wrong answer)."""
    kind = rng.choices(
        ["integer", "fraction", "radical", "pi", "polynomial", "interval", "tuple", "decimal"],
        weights=[50, 15, 10, 5, 5, 5, 5, 5],
    )[0]
    a, b = rng.randint(1, 400), rng.randint(2, 60)
    if kind == "integer":
        value = rng.randint(-50, 5000)
        return str(value), str(value), f"{value}.0", str(value + rng.choice([-1, 1, 10]))
    if kind == "fraction":
        value = Fraction(a, b) if Fraction(a, b).denominator != 1 else Fraction(a, b + 1)
        latex = rf"\frac{{{value.numerator}}}{{{value.denominator}}}"
        return (
            latex,
            latex,
            f"{value.numerator}/{value.denominator}",
            rf"\frac{{{value.numerator + 1}}}{{{value.denominator}}}",
        )
    if kind == "radical":
        k, m = rng.randint(2, 9), rng.choice([2, 3, 5, 6, 7])
        return rf"{k}\sqrt{{{m}}}", rf"{k}\sqrt{{{m}}}", rf"\sqrt{{{k * k * m}}}", rf"{k + 1}\sqrt{{{m}}}"
    if kind == "pi":
        return (
            rf"\frac{{{a}\pi}}{{{b}}}",
            rf"\frac{{{a}\pi}}{{{b}}}",
            rf"\frac{{{a}}}{{{b}}}\pi",
            rf"\frac{{{a + 1}\pi}}{{{b}}}",
        )
    if kind == "polynomial":
        return f"x^2 + {a}x + {b}", f"x^2 + {a}x + {b}", f"{b} + {a}x + x^2", f"x^2 + {a}x - {b}"
    if kind == "interval":
        return f"({a}, {a + b}]", f"({a}, {a + b}]", f"({a},{a + b}]", f"[{a}, {a + b}]"
    if kind == "tuple":
        return f"({a}, {b})", f"({a}, {b})", f"\\left({a}, {b}\\right)", f"({b}, {a})"
    value = Fraction(a, 4)
    return (
        f"{float(value)}",
        f"{float(value)}",
        rf"\frac{{{value.numerator}}}{{{value.denominator}}}",
        f"{float(value) + 0.5}",
    )


def gsm8k_rows(prompts: int, rng: random.Random) -> list[dict]:
    rows = []
    for _ in range(prompts):
        value = rng.randint(1, 100000)
        for _ in range(SAMPLES_PER_PROMPT):
            answer = value if rng.random() < 0.5 else value + rng.randint(1, 9)
            ending = rng.choice([f"#### {answer:,}", f"The answer is ${answer}.", f"So she has {answer} left."])
            rows.append({"dataset": "gsm8k", "ground_truth": str(value), "response": FILLER * 2 + ending})
    return rows


IFEVAL_INSTRUCTIONS = [
    ("punctuation:no_comma", {}),
    ("change_case:english_lowercase", {}),
    ("detectable_format:title", {}),
    ("keywords:existence", {"keywords": ["river", "stone"]}),
    ("length_constraints:number_words", {"num_words": 60, "relation": "at least"}),
    ("length_constraints:number_sentences", {"num_sentences": 5, "relation": "less than"}),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}),
    ("language:response_language", {"language": "en"}),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"}),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}),
    ("detectable_format:json_format", {}),
]
IFEVAL_TEXT = (
    "<<A Walk By The River>>\nThe river ran past the old stone bridge and the children played near it. "
    "* They threw pebbles\n* They laughed\n* They ran home\nIt was a BRIGHT and SUNNY day in the valley. "
)


def ifeval_rows(prompts: int, rng: random.Random) -> list[dict]:
    rows = []
    for _ in range(prompts):
        chosen = rng.sample(IFEVAL_INSTRUCTIONS, rng.randint(1, 3))
        truth = {"instruction_id_list": [i for i, _ in chosen], "kwargs": [k for _, k in chosen]}
        for _ in range(SAMPLES_PER_PROMPT):
            text = IFEVAL_TEXT * rng.randint(1, 3)
            response = rng.choice([text, text.lower(), text.replace(",", ""), text + "\nP.S. Any other questions?"])
            rows.append({"dataset": "ifeval", "ground_truth": truth, "response": response})
    return rows


def string_match_rows(prompts: int, rng: random.Random) -> list[dict]:
    answers = ["Paris", "the Eiffel Tower", "blue whale", "Jupiter", "photosynthesis", "George Washington"]
    rows = []
    for _ in range(prompts):
        truth = rng.choice(answers)
        for _ in range(SAMPLES_PER_PROMPT):
            said = truth if rng.random() < 0.5 else rng.choice(answers)
            rows.append(
                {"dataset": "string_match", "ground_truth": truth, "response": FILLER + f"The answer is: {said}."}
            )
    return rows


CODE_TASKS = [
    (
        "def add(a, b):\n    return a + b\n",
        "def add(a, b):\n    return a - b\n",
        ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(10, 5) == 15"],
    ),
    (
        "def rev(s):\n    return s[::-1]\n",
        "def rev(s):\n    return s\n",
        ["assert rev('abc') == 'cba'", "assert rev('') == ''", "assert rev('ab') == 'ba'"],
    ),
    (
        "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
        "def fib(n):\n    return n\n",
        ["assert fib(0) == 0", "assert fib(10) == 55", "assert fib(20) == 6765"],
    ),
    (
        "def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))\n",
        "def is_prime(n):\n    return n % 2 == 1\n",
        ["assert is_prime(7)", "assert not is_prime(9)", "assert is_prime(2)"],
    ),
    (
        "from typing import List\ndef top(xs: List[int], k: int) -> List[int]:\n    return sorted(xs)[-k:][::-1]\n",
        "def top(xs, k):\n    return xs[:k]\n",
        ["assert top([3, 1, 2], 2) == [3, 2]", "assert top([5], 1) == [5]", "assert top([1, 9, 4, 7], 3) == [9, 7, 4]"],
    ),
]


def code_rows(prompts: int, rng: random.Random) -> list[dict]:
    rows = []
    for _ in range(prompts):
        right, wrong, tests = rng.choice(CODE_TASKS)
        for _ in range(SAMPLES_PER_PROMPT):
            code = right if rng.random() < 0.5 else wrong
            response = f"Here is my solution:\n```python\n{code}```\nIt runs in linear time."
            rows.append({"dataset": "code", "ground_truth": {"tests": tests}, "response": response})
    return rows


WORKLOADS = {
    "math": (math_rows, 400),
    "gsm8k": (gsm8k_rows, 600),
    "ifeval": (ifeval_rows, 300),
    "string_match": (string_match_rows, 600),
    "code": (code_rows, 25),
}


def tree_cpu_seconds() -> float:
    """CPU time (user + system) used so far by this process and all its descendants: the pool's workers, their
    sandbox launchers and (reaped) sandboxes. It does not depend on how busy the machine is with other work."""
    parents, ticks = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            ticks[int(entry)] = sum(int(field) for field in fields[11:15])  # utime stime cutime cstime
    me, total = os.getpid(), 0
    for pid in ticks:
        ancestor = pid
        while ancestor not in (me, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        total += ticks[pid] if ancestor == me else 0
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows-scale", type=float, default=1.0, help="multiply the number of rows per workload")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    rng = random.Random(0)
    workloads = {
        name: make(max(1, round(prompts * args.rows_scale)), rng) for name, (make, prompts) in WORKLOADS.items()
    }
    with VerifierPool(num_workers=args.workers) as pool:
        pool.score_rows([rows[0] for rows in workloads.values()])  # wait until the workers are up and warm
        cores = len(os.sched_getaffinity(0))
        print(f"workers: {pool.num_workers}   cores: {cores}   load average at start: {os.getloadavg()[0]:.1f}")
        print("per second: measured now; CPU ms: per verification, all processes; unloaded: cores / CPU time")
        print(
            f"{'verifier':<14} {'rows':>6} {'seconds':>8} {'per second':>11} {'CPU ms':>7} {'unloaded':>9} "
            f"{'mean score':>11} {'timeouts':>9} {'errors':>7}  target"
        )
        for name, rows in workloads.items():
            before = dict(pool.stats)
            cpu_before, start = tree_cpu_seconds(), time.perf_counter()
            results = pool.score_rows(rows)
            seconds, cpu = time.perf_counter() - start, tree_cpu_seconds() - cpu_before
            rate = len(rows) / seconds
            cpu_ms = 1000 * cpu / len(rows)
            target = TARGETS.get(name)
            verdict = "" if target is None else f">= {target}/s {'ok' if rate >= target else 'MISSED'}"
            mean = sum(result["score"] for result in results) / len(results)
            print(
                f"{name:<14} {len(rows):>6} {seconds:>8.2f} {rate:>11.1f} {cpu_ms:>7.2f} "
                f"{min(cores, pool.num_workers) * 1000 / cpu_ms if cpu_ms else float('inf'):>9.0f} {mean:>11.3f} "
                f"{pool.stats['timeouts'] - before['timeouts']:>9} {pool.stats['errors'] - before['errors']:>7}  "
                f"{verdict}"
            )


if __name__ == "__main__":
    main()
