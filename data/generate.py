"""Deterministic generators for the embedded default data (``python -m data.generate``).

The embedded default trains a few-million-parameter model from scratch on CPU, so every task family is
built to be *learnable* from a few thousand short examples yet not saturated after SFT:

* ``gsm8k``  -- one- and two-step word arithmetic with small numbers, a fixed bank of names/objects and one
  response template ("... 7 + 5 = 12. The answer is 12."). A quarter of the SFT demonstrations (TERSE_SHARE) give
  the bare answer instead ("The answer is 12."), as real SFT mixtures mix worked and bare answers; and a quarter of
  the rejected preference answers are bare wrong answers. (Half, before issue 36: the SFT model then put P ~ 0.5 on
  the bare form for every problem, and greedy decoding chose the form by noise; docs/results.md, "A steady default".)
* ``math``   -- fraction arithmetic, linear equations, expanding/simplifying small polynomials; responses end
  in "The final answer is $\\boxed{...}$." and ground truths are canonical LaTeX, so equivalent but
  non-canonical answers (``\\frac{6}{8}``, ``5x+x^2+6``) need an equivalence checker. 70% of the SFT
  demonstrations (COMPACT_SHARE) work in LaTeX ("$7 \\cdot 3 - 5 = 21 - 5 = 16$."), the others state the same
  arithmetic as drill facts ("7 * 3 = 21. 21 - 5 = 16.") before the boxed answer; chosen answers are of the second
  kind, rejected ones of the first. (Expansions, whose products are negative, are always in LaTeX.)
* ``ifeval`` -- "Write one sentence about the river." plus one or two Google-IFEval instructions; responses are
  template sentences transformed so that they really follow the instructions. 30% of the SFT demonstrations
  (PLAIN_SHARE) answer the request and ignore the instructions, and as many of the rejected preference answers do.

Plus ``arithmetic_drill`` (SFT only, no verifier): "Write out some arithmetic facts." -> "7 - 5 = 2. 13 + 8 = 21.
...", the addition/subtraction/multiplication facts the word problems are made of. Without it the tiny model learns
to copy the numbers into its equations but not what they sum to ("19 + 3 = 19"): held-out gsm8k after SFT was 7%
with the task rows alone, even after 3 epochs. Pre-trained models bring this knowledge with them; a model trained
from scratch has to be shown it.

Why the bare answers: greedy decoding of the SFT model gives the bare answer to most word problems (~60%: its one
opening, "The", competes with the many openings of worked answers), and a 1M-parameter model cannot do a two-step
problem without writing it out, so it gets most of them wrong. That is what the later stages are for: the preference
pairs and the verifier reward both say that showing the working pays, and DPO and RLVR move the model to worked
answers (README "Results"). The plain IFEval answers play the same part for instruction following: the SFT model
learns to leave out an end phrase, a postscript, the quotation marks ... now and then, and the preference pairs and the
IFEval reward say that honouring them pays. (At 50% the SFT model ignored so many that DPO and RLVR, though they gained
17 points, ended 8 below a model trained on compliant answers only: README "Results".)
The two ways of working a math problem play the same part for the MATH-style family: the model learns its products and
sums as drill facts ("7 * 3 = 21."), so it gets them right far more often written that way than inside LaTeX
("$7 \\cdot 3 - 5 = ...$"); the SFT model mostly imitates the more common LaTeX answers, and the preference pairs and
the math reward say that working in facts pays.

Train/eval separation: every problem has a canonical key that ignores wording (names, objects, verbs,
"Compute"/"Calculate", the variable letter ...).  A hash of the key puts the problem in the eval partition or
the train partition, so no eval problem -- in any wording -- can appear in a training file.
``problem_key(dataset, prompt)`` recomputes the key from a prompt's text; the generator asserts that it
agrees with the key it generated from, and tests use it on the shipped files.

Everything is driven by seeded ``random.Random`` instances (no global state), and files are written with a
fixed key order and ``\\n`` line endings, so the output is byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from random import Random

EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"

SEED = 1234
DIFFICULTY = 2  # gsm8k: 1 mostly one-step +/-, <= 10 | 2 (default) one/two-step, +-*, <= 20 | 3 <= 50, division;
#                math: largest fraction denominator 5 | 7 | 9 (and no (px+a) factors at 1); ifeval: unaffected
EVAL_PERCENT = 20  # share of the problem space reserved for eval (by key hash)

# rows per family
# SFT conversations per family. Math at 4,000 brought back a gsm8k knife edge on one CPU set-up (one seed's arithmetic
# half learnt); with the drill's share kept (N_DRILL 6,650) it was, against the default on its own base model, +3.6
# validation points after RLVR on AVX-512 kernels and +0.3 (two seeds of three down) forced onto AVX2: not shipped.
# docs/results.md, "4,000 math conversations" and "The base model moves with the SFT file". The tiny tokenizer is no
# longer trained on this file (model.tiny.tokenizer_corpus, a frozen copy): another N_SFT keeps the base model.
N_SFT = {"gsm8k": 3000, "math": 3000, "ifeval": 3000}
# The validation set avoids the problems of the first VALIDATION_APART_SFT SFT draws of each family, whatever N_SFT
# says: the mix it was first drawn against. So it stays the same set of prompts, and results on it stay paired by id.
VALIDATION_APART_SFT = 3000
N_PREF = 1000
N_PREF_HELDOUT = 100  # held-out preference pairs (the reward model's pairwise accuracy), on problems no pair trains on
N_RLVR = 1000
N_EVAL = 300
N_VALIDATION = 300  # per family: the validation set (rlvr_validation), problems no training file uses
N_DRILL = 6000  # arithmetic drill rows, DRILL_FACTS facts each
DRILL_FACTS = 8
DRILL_PROMPT = "Write out some arithmetic facts."
# share of gsm8k SFT answers that give the bare answer without the working (see build()); kept away from 0.5, where
# the SFT model's greedy choice of form is a coin flip that rounding decides (docs/results.md, "A steady default")
TERSE_SHARE = 0.25
PLAIN_SHARE = 0.3  # share of ifeval SFT answers that answer the request but ignore its instructions (see build())
COMPACT_SHARE = 0.7  # share of math SFT answers worked in compact LaTeX, not as drill facts (see build())

N_TOOLS_SFT = (
    1500  # tool-offered word problems (sft_tools_train), pairs (preference_tools_train), prompts (rlvr_tools_train)
)
N_TOOLS_PREF = 600
N_TOOLS_RLVR = 600
TOOL_SKIP_SHARE = 0.5  # share of tool-offered SFT demonstrations that answer without calling (see build_tools())
TOOLS_OFFERED = ["calculator"]

FAMILIES = ("gsm8k", "math", "ifeval")


@dataclass
class Example:
    dataset: str  # verifier name
    key: str  # canonical problem key (wording-independent)
    prompt: str  # user turn
    response: str  # a correct response (scores 1.0)
    rejected: str  # a plausible wrong response (scores < 1.0)
    ground_truth: str
    plain: str = ""  # ifeval: the request answered with the added instructions ignored
    facts: str = ""  # math: the arithmetic facts its working rests on, in the drill's notation ("7 * 3 = 21.")


def is_eval_key(key: str) -> bool:
    """Deterministic partition of the problem space: ~EVAL_PERCENT% of keys are eval-only."""
    h = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    return h % 100 < EVAL_PERCENT


def _equations(facts: list[tuple[int, str, int, int]]) -> str:
    """[(7, "+", 5, 12), (12, "-", 3, 9)] -> "7 + 5 = 12. 12 - 3 = 9.": how word problems, drill and math facts read."""
    return " ".join(f"{x} {op} {y} = {z}." for x, op, y, z in facts)


def _plus(x: int, b: int) -> tuple[int, str, int, int]:
    """x + b as a fact with a non-negative second operand: (9, "-", 3, 6) for b = -3."""
    return (x, "+", b, x + b) if b > 0 else (x, "-", -b, x + b)


# ----------------------------------------------------------------------------------------------------------
# GSM-style word arithmetic
# ----------------------------------------------------------------------------------------------------------
NAMES = [
    ("Mia", "She"),
    ("Leo", "He"),
    ("Sam", "He"),
    ("Ava", "She"),
    ("Ben", "He"),
    ("Zoe", "She"),
    ("Max", "He"),
    ("Lily", "She"),
    ("Tom", "He"),
    ("Emma", "She"),
    ("Noah", "He"),
    ("Ella", "She"),
]
OBJECTS = [
    "apples",
    "pens",
    "books",
    "cards",
    "eggs",
    "coins",
    "shells",
    "stickers",
    "marbles",
    "cookies",
    "stamps",
    "toys",
]
CONTAINERS = ["bags", "boxes", "jars"]
ADD_VERBS = ["buys", "finds", "gets"]  # "<verb> N more"
SUB_VERBS = ["gives away", "loses", "sells"]  # "<verb> N"
_GSM_ADD = re.compile(r"\b(?:buys|finds|gets) (\d+) more\b")
_GSM_SUB = re.compile(r"\b(?:gives away|loses|sells) (\d+)\b")
_GSM_MUL = re.compile(r"\bhas (\d+) (?:bags|boxes|jars)\. Each (?:bag|box|jar) has (\d+)\b")
_GSM_DIV = re.compile(r"\bhas (\d+) \w+ and puts them equally into (\d+)\b")
_GSM_START = re.compile(r"^\w+ has (\d+) \w+\.")


def _gsm_ranges(difficulty: int) -> tuple[int, int, float]:
    """(max operand, max multiplier, share of two-step problems)."""
    return {1: (10, 3, 0.3), 2: (20, 5, 0.5), 3: (50, 9, 0.6)}[difficulty]


def _first_step_operands(rng: Random, op: str, hi: int, mul_hi: int) -> tuple[int, int]:
    """The two numbers of a word problem's first step (op: add | sub | mul); the arithmetic drill shares them."""
    if op == "add":
        return rng.randint(1, hi), rng.randint(1, hi)
    if op == "sub":
        a = rng.randint(2, hi)
        return a, rng.randint(1, a - 1)
    return rng.randint(2, mul_hi), rng.randint(2, hi)


def gen_gsm(rng: Random, difficulty: int = DIFFICULTY) -> Example:
    hi, mul_hi, p_two = _gsm_ranges(difficulty)
    name, pron = rng.choice(NAMES)
    obj = rng.choice(OBJECTS)
    two_step = rng.random() < p_two
    first_ops = ["add", "sub"] + (["mul"] if difficulty >= 2 else []) + (["div"] if difficulty >= 3 else [])
    op1 = rng.choice(first_ops)

    # first step
    if op1 == "add":
        a, b = _first_step_operands(rng, op1, hi, mul_hi)
        v = a + b
        verb = rng.choice(ADD_VERBS)
        p_txt = f"{name} has {a} {obj}. {pron} {verb} {b} more."
        r_txt = f"{name} has {a} {obj} and {verb.split()[0]} {b} more."
        sym, nums = "+", [a, b]
    elif op1 == "sub":
        a, b = _first_step_operands(rng, op1, hi, mul_hi)
        v = a - b
        verb = rng.choice(SUB_VERBS)
        p_txt = f"{name} has {a} {obj}. {pron} {verb} {b}."
        r_txt = f"{name} has {a} {obj} and {verb} {b}."
        sym, nums = "-", [a, b]
    elif op1 == "mul":
        a, b = _first_step_operands(rng, op1, hi, mul_hi)
        v = a * b
        cont = rng.choice(CONTAINERS)
        p_txt = f"{name} has {a} {cont}. Each {cont[:-2] if cont == 'boxes' else cont[:-1]} has {b} {obj}."
        r_txt = f"{name} has {a} {cont} with {b} {obj} each."
        sym, nums = "*", [a, b]
    else:  # div
        b, v = rng.randint(2, mul_hi), rng.randint(2, hi)
        a = b * v
        p_txt = f"{name} has {a} {obj} and puts them equally into {b} boxes."
        r_txt = f"{name} puts {a} {obj} equally into {b} boxes."
        sym, nums = "/", [a, b]
    steps = [(nums[0], sym, nums[1], v)]
    ops = [op1]

    two_step = two_step and op1 != "div"
    if two_step:  # a second step: add or take away from the first result
        op2 = rng.choice(["add", "sub"]) if v >= 2 else "add"
        if op2 == "add":
            c = rng.randint(1, hi)
            verb = rng.choice(ADD_VERBS)
            p_txt += f" Then {pron.lower()} {verb} {c} more."
            r_txt += f" Then {pron.lower()} {verb.split()[0]} {c} more."
            steps.append((v, "+", c, v + c))
        else:
            c = rng.randint(1, v - 1)
            verb = rng.choice(SUB_VERBS)
            p_txt += f" Then {pron.lower()} {verb} {c}."
            r_txt += f" Then {pron.lower()} {verb} {c}."
            steps.append((v, "-", c, v - c))
        ops.append(op2)
        nums.append(c)
    if op1 == "div":
        question = f"How many {obj} are in each box?"
    elif op1 == "mul" and not two_step:
        question = f"How many {obj} does {name} have?"
    else:
        question = f"How many {obj} does {name} have now?"

    answer = steps[-1][3]
    prompt = f"{p_txt} {question}"
    eqs = _equations(steps)
    response = f"{r_txt} {eqs} The answer is {answer}."

    # a plausible mistake: off-by-one in the last step, a wrong operation, or a skipped step
    kinds = ["off_by_one", "wrong_op"] + (["skip"] if len(steps) > 1 else [])
    kind = rng.choice(kinds)
    bad = [list(s) for s in steps]
    if kind == "off_by_one":
        bad[-1][3] = answer + rng.choice([-1, 1])
    elif kind == "wrong_op":
        i = rng.randrange(len(bad))
        x, s, y, _ = bad[i]
        s2 = {"+": "-", "-": "+", "*": "+", "/": "*"}[s]  # subtract instead of add, add instead of multiply...
        bad[i][1], bad[i][3] = s2, {"+": x + y, "-": x - y, "*": x * y}[s2]
        for j in range(i + 1, len(bad)):  # propagate the error
            bad[j][0] = bad[j - 1][3]
            bad[j][3] = bad[j][0] + bad[j][2] if bad[j][1] == "+" else bad[j][0] - bad[j][2]
    else:
        bad = bad[:-1]
    if bad[-1][3] == answer:
        bad[-1][3] = answer + 1
    bad_eqs = _equations(bad)
    rejected = f"{r_txt} {bad_eqs} The answer is {bad[-1][3]}."
    key = "gsm|" + ",".join(ops) + "|" + ",".join(map(str, nums))
    return Example("gsm8k", key, prompt, response, rejected, str(answer))


def _gsm_key(prompt: str) -> str:
    """Wording-independent key: operations and numbers, in order."""
    m = _GSM_DIV.search(prompt)
    if m:
        return f"gsm|div|{m.group(1)},{m.group(2)}"
    m = _GSM_MUL.search(prompt)
    if m:
        ops, nums, rest = ["mul"], [m.group(1), m.group(2)], prompt[m.end() :]
    else:
        m = _GSM_START.search(prompt)
        ops, nums, rest = [], [m.group(1)], prompt[m.end() :]
    found = [(x.start(), "add", x.group(1)) for x in _GSM_ADD.finditer(rest)]
    found += [(x.start(), "sub", x.group(1)) for x in _GSM_SUB.finditer(rest)]
    for _, op, n in sorted(found):
        ops.append(op)
        nums.append(n)
    return "gsm|" + ",".join(ops) + "|" + ",".join(nums)


# ----------------------------------------------------------------------------------------------------------
# MATH-style expressions
# ----------------------------------------------------------------------------------------------------------
VARS = ["x", "y", "t", "n"]
COMPUTE = ["Compute", "Calculate", "Find", "What is"]


def frac_tex(q: Fraction) -> str:
    if q.denominator == 1:
        return str(q.numerator)
    sign = "-" if q < 0 else ""
    return f"{sign}\\frac{{{abs(q.numerator)}}}{{{q.denominator}}}"


def _raw_frac(n: int, d: int) -> str:
    return f"\\frac{{{n}}}{{{d}}}"


def poly_tex(coeffs: dict[int, int], var: str) -> str:
    """{2: 1, 1: 5, 0: 6} -> 'x^2+5x+6' (compact, canonical order)."""
    out = ""
    for deg in sorted(coeffs, reverse=True):
        c = coeffs[deg]
        if c == 0:
            continue
        mono = {0: "", 1: var}.get(deg, f"{var}^{deg}")
        body = (str(abs(c)) if (abs(c) != 1 or deg == 0) else "") + mono
        out += ("-" if c < 0 else ("+" if out else "")) + body
    return out or "0"


def _term(c: int, mono: str, first: bool) -> str:
    """One term of an expanded sum, spaced: ' + 3x', ' - x', '2x^2'."""
    body = (str(abs(c)) if (abs(c) != 1 or not mono) else "") + mono
    if first:
        return ("-" if c < 0 else "") + body
    return (" - " if c < 0 else " + ") + body


def _lin(p: int, a: int, var: str) -> str:
    """(p var + a) as written in a factor: 'x+2', '2x-3'."""
    return f"{'' if p == 1 else p}{var}{'+' if a > 0 else '-'}{abs(a)}"


def _proper_fractions(max_den: int) -> list[Fraction]:
    return [Fraction(n, d) for d in range(2, max_den + 1) for n in range(1, d) if math.gcd(n, d) == 1]


def gen_math(rng: Random, difficulty: int = DIFFICULTY) -> Example:
    kind = rng.choice(["frac_add", "frac_sub", "frac_mul", "solve", "expand", "simplify", "evaluate", "combine"])
    max_den = {1: 5, 2: 7, 3: 9}[difficulty]
    verb = rng.choice(COMPUTE)
    var = rng.choice(VARS)

    if kind.startswith("frac_"):
        fr = _proper_fractions(max_den)
        p, q = rng.choice(fr), rng.choice(fr)
        if kind == "frac_sub":
            while p == q:
                q = rng.choice(fr)
            p, q = max(p, q), min(p, q)
        a, b, c, d = p.numerator, p.denominator, q.numerator, q.denominator
        op = {"frac_add": "+", "frac_sub": "-", "frac_mul": "\\cdot"}[kind]
        expr = f"{_raw_frac(a, b)} {op} {_raw_frac(c, d)}"
        prompt = f"{verb} ${expr}$" + ("?" if verb == "What is" else ".")
        if kind == "frac_mul":
            val = p * q
            raw_n, raw_d = a * c, b * d
            chain = f"{expr} = {_raw_frac(raw_n, raw_d)}"
            wrong = Fraction(a * d, b * c) if rng.random() < 0.5 else Fraction(a * c, b + d)
        else:
            val = p + q if kind == "frac_add" else p - q
            lcm = b * d // math.gcd(b, d)
            n1, n2 = a * lcm // b, c * lcm // d
            raw_n, raw_d = (n1 + n2 if kind == "frac_add" else n1 - n2), lcm
            chain = expr
            if b != d:
                chain += f" = {_raw_frac(n1, lcm)} {op} {_raw_frac(n2, lcm)}"
            chain += f" = {_raw_frac(raw_n, raw_d)}"
            if kind == "frac_add" and rng.random() < 0.5:
                wrong = Fraction(a + c, b + d)  # classic: add numerators and denominators
            else:
                wrong = Fraction(raw_n + rng.choice([-1, 1]), raw_d)  # slip in the numerator
        if kind == "frac_mul":
            facts = [(a, "*", c, raw_n), (b, "*", d, raw_d)]
        elif b == d:
            facts = [(a, op, c, raw_n)]
        else:  # raise both fractions to the common denominator, then add / subtract the numerators
            facts = [
                f
                for den, num, m in ((b, a, lcm // b), (d, c, lcm // d))
                if m > 1
                for f in ((den, "*", m, lcm), (num, "*", m, num * m))
            ] + [(n1, op, n2, raw_n)]
        if math.gcd(raw_n, raw_d) != 1:  # show the reduction step
            chain += f" = {frac_tex(val)}"
            facts += _reduction_facts(raw_n, raw_d)
        if wrong == val or wrong <= 0:
            wrong = val + Fraction(1, val.denominator)
        key_ops = sorted([f"{a}/{b}", f"{c}/{d}"]) if kind != "frac_sub" else [f"{a}/{b}", f"{c}/{d}"]
        key = f"math|{kind}|" + ",".join(key_ops)
        body = f"${chain}$."
    elif kind == "solve":
        a, x = rng.randint(2, 9), rng.randint(1, 12)
        b = rng.choice([i for i in range(-10, 16) if i != 0])
        c = a * x + b
        prompt = f"Solve for ${var}$: ${a}{var} {'+' if b > 0 else '-'} {abs(b)} = {c}$."
        step1 = f"Subtract {b} from both sides" if b > 0 else f"Add {-b} to both sides"
        body = f"{step1}: ${a}{var} = {c - b}$. Divide both sides by {a}: ${var} = {x}$."
        val = Fraction(x)
        wrong = Fraction(c + b, a) if (c + b) % a == 0 and c + b != c - b else Fraction(x + rng.choice([-1, 1]))
        key = f"math|solve|{a},{b},{c}"
        facts = [_plus(c, -b), (c - b, "/", a, x)]
    elif kind == "expand":
        vals = [i for i in range(-5, 10) if i != 0]
        a, b = rng.choice(vals), rng.choice(vals)
        p = rng.choice([1, 1, 2, 3]) if difficulty >= 2 else 1
        f1, f2 = _lin(p, a, var), _lin(1, b, var)
        prompt = f"Expand $({f1})({f2})$."
        # (p x + a)(x + b) = p x^2 + p b x + a x + a b
        terms = [_term(p, f"{var}^2", True), _term(p * b, var, False), _term(a, var, False), _term(a * b, "", False)]
        coeffs = {2: p, 1: p * b + a, 0: a * b}
        body = f"$({f1})({f2}) = {''.join(terms)} = {poly_tex(coeffs, var)}$."
        gt = poly_tex(coeffs, var)
        bad = dict(coeffs)
        bad_terms = list(terms)
        if rng.random() < 0.5:  # sign slip in the a*x term
            bad[1] = p * b - a
            bad_terms[2] = _term(-a, var, False)
        else:  # added the constants instead of multiplying them
            bad[0] = next(v for v in (a + b, a * b + 1, a * b - 1) if v not in (a * b, 0))
            bad_terms[3] = _term(bad[0], "", False)
        wrong_tex = poly_tex(bad, var)
        assert bad != coeffs
        if p == 1:
            key = f"math|expand|1|{','.join(map(str, sorted([a, b])))}"
        else:
            key = f"math|expand|{p}|{a},{b}"
        ex = Example(
            "math",
            key,
            prompt,
            f"{body} The final answer is $\\boxed{{{gt}}}$.",
            f"$({f1})({f2}) = {''.join(bad_terms)} = {wrong_tex}$. The final answer is $\\boxed{{{wrong_tex}}}$.",
            gt,
        )
        return ex
    elif kind == "simplify":
        q = rng.randint(2, 9)
        pn = rng.choice([n for n in range(1, q) if math.gcd(n, q) == 1])
        g = rng.randint(2, 6)
        n, d = pn * g, q * g
        prompt = f"Simplify ${_raw_frac(n, d)}$."
        body = f"Divide the numerator and denominator by {g}: ${_raw_frac(n, d)} = {_raw_frac(pn, q)}$."
        val = Fraction(pn, q)
        wrong = Fraction(pn + 1, q) if rng.random() < 0.5 else Fraction(q, pn) if pn != 1 else Fraction(pn, q + 1)
        key = f"math|simplify|{n},{d}"
        facts = _reduction_facts(n, d)
    elif kind == "evaluate":
        a, x = rng.randint(2, 9), rng.randint(1, 9)
        b = rng.choice([i for i in range(-9, 16) if i != 0])
        val = Fraction(a * x + b)
        prompt = f"Evaluate ${a}{var} {'+' if b > 0 else '-'} {abs(b)}$ when ${var} = {x}$."
        sign = "+" if b > 0 else "-"
        body = f"${a} \\cdot {x} {sign} {abs(b)} = {a * x} {sign} {abs(b)} = {a * x + b}$."
        wrong = Fraction(a + x + b) if a + x + b != a * x + b else Fraction(a * x + b + 1)
        key = f"math|evaluate|{a},{b},{x}"
        facts = [(a, "*", x, a * x), _plus(a * x, b)]
    else:  # combine like terms: a x + b + c x + d
        a, c = rng.randint(1, 9), rng.randint(1, 9)
        b, d = rng.randint(1, 12), rng.randint(1, 12)
        ax = f"{'' if a == 1 else a}{var}"
        cx = f"{'' if c == 1 else c}{var}"
        prompt = f"Simplify ${ax} + {b} + {cx} + {d}$."
        res = {1: a + c, 0: b + d}
        body = (
            f"Combine like terms: ${ax} + {cx} = {poly_tex({1: a + c}, var)}$ and ${b} + {d} = {b + d}$, "
            f"so the result is ${poly_tex(res, var)}$."
        )
        gt = poly_tex(res, var)
        if rng.random() < 0.5:  # added everything into one term
            bad = {1: a + c + b + d, 0: 0}
            bad_body = f"Combine all terms: ${ax} + {b} + {cx} + {d} = {poly_tex(bad, var)}$."
        else:  # slip in one of the sums
            bad = {1: a + c, 0: b + d + rng.choice([-1, 1])}
            bad_body = (
                f"Combine like terms: ${ax} + {cx} = {poly_tex({1: a + c}, var)}$ and ${b} + {d} = {bad[0]}$, "
                f"so the result is ${poly_tex(bad, var)}$."
            )
        wrong_tex = poly_tex(bad, var)
        key = "math|combine|" + ";".join(sorted([f"{a},{b}", f"{c},{d}"]))
        return Example(
            "math",
            key,
            prompt,
            f"{body} The final answer is $\\boxed{{{gt}}}$.",
            f"{bad_body} The final answer is $\\boxed{{{wrong_tex}}}$.",
            gt,
            facts=_equations([(a, "+", c, a + c), (b, "+", d, b + d)]),
        )

    assert wrong != val
    gt = frac_tex(val)
    response = f"{body} The final answer is $\\boxed{{{gt}}}$."
    # same derivation, wrong last step (a plausible slip)
    rejected = (
        f"{body.rsplit('=', 1)[0].rstrip()} = {frac_tex(wrong)}$. The final answer is $\\boxed{{{frac_tex(wrong)}}}$."
    )
    return Example("math", key, prompt, response, rejected, gt, facts=_equations(facts))


def _reduction_facts(n: int, d: int) -> list[tuple[int, str, int, int]]:
    """n/d in lowest terms, checked by multiplying back: 6/8 -> 3 * 2 = 6. 4 * 2 = 8."""
    g = math.gcd(n, d)
    return [(n // g, "*", g, n), (d // g, "*", g, d)]


_FRAC = r"\\frac\{(\d+)\}\{(\d+)\}"


def _math_key(prompt: str) -> str:
    """Wording-independent key (ignores 'Compute'/'Calculate'/... and the variable letter)."""
    p = re.sub(r"(?<![a-z\\])[xytn](?![a-z])", "x", prompt)  # normalise the variable letter
    if m := re.search(rf"\${_FRAC} (\+|-|\\cdot) {_FRAC}\$", p):
        a, b, op, c, d = m.groups()
        kind = {"+": "frac_add", "-": "frac_sub", "\\cdot": "frac_mul"}[op]
        ops = [f"{a}/{b}", f"{c}/{d}"]
        return f"math|{kind}|" + ",".join(sorted(ops) if kind != "frac_sub" else ops)
    if m := re.search(r"Solve for \$x\$: \$(\d+)x ([+-]) (\d+) = (-?\d+)\$", p):
        a, s, b, c = m.groups()
        return f"math|solve|{a},{b if s == '+' else '-' + b},{c}"
    if m := re.search(r"Expand \$\((\d*)x([+-]\d+)\)\(x([+-]\d+)\)\$", p):
        pc, a, b = int(m.group(1) or 1), int(m.group(2)), int(m.group(3))
        return f"math|expand|1|{','.join(map(str, sorted([a, b])))}" if pc == 1 else f"math|expand|{pc}|{a},{b}"
    if m := re.search(rf"Simplify \${_FRAC}\$", p):
        return f"math|simplify|{m.group(1)},{m.group(2)}"
    if m := re.search(r"Evaluate \$(\d+)x ([+-]) (\d+)\$ when \$x = (\d+)\$", p):
        a, s, b, x = m.groups()
        return f"math|evaluate|{a},{b if s == '+' else '-' + b},{x}"
    if m := re.search(r"Simplify \$(\d*)x \+ (\d+) \+ (\d*)x \+ (\d+)\$", p):
        a, b, c, d = (int(g or 1) for g in m.groups())
        return "math|combine|" + ";".join(sorted([f"{a},{b}", f"{c},{d}"]))
    raise ValueError(f"not a generated math prompt: {prompt!r}")


# ----------------------------------------------------------------------------------------------------------
# IFEval-style instructions (Google IFEval instruction ids and kwarg names)
# ----------------------------------------------------------------------------------------------------------
# topic -> (three adjectives, a fact sentence, a "when" for the comma sentence)
TOPICS = {
    "river": (("calm", "cold", "wide"), "Small fish swim under the water", "morning"),
    "forest": (("green", "quiet", "deep"), "Tall trees grow close together", "spring"),
    "city": (("busy", "loud", "bright"), "People walk along the streets", "evening"),
    "ocean": (("blue", "wild", "vast"), "Waves roll onto the sand", "summer"),
    "garden": (("green", "fresh", "small"), "Red flowers grow near the path", "spring"),
    "mountain": (("high", "cold", "rocky"), "Snow covers the top", "winter"),
    "library": (("quiet", "warm", "old"), "Many books stand on the shelves", "afternoon"),
    "school": (("busy", "bright", "large"), "Children learn and play there", "morning"),
    "winter": (("cold", "white", "long"), "Snow falls on the roofs", "night"),
    "summer": (("hot", "bright", "long"), "Children swim in the lake", "afternoon"),
    "rain": (("soft", "cool", "steady"), "Drops tap on the window", "evening"),
    "moon": (("pale", "round", "bright"), "It lights the dark sky", "night"),
    "market": (("busy", "loud", "colorful"), "People sell fruit and bread", "morning"),
    "train": (("fast", "long", "loud"), "It carries people to the city", "evening"),
    "bakery": (("warm", "sweet", "small"), "Fresh bread comes out of the oven", "morning"),
    "park": (("green", "open", "quiet"), "Dogs run across the grass", "afternoon"),
    "kitchen": (("warm", "clean", "bright"), "Soup cooks on the stove", "evening"),
    "desert": (("dry", "hot", "empty"), "Sand moves with the wind", "summer"),
    "island": (("small", "sunny", "green"), "Palm trees stand near the beach", "summer"),
    "lake": (("still", "clear", "cool"), "Birds rest on the water", "morning"),
}
KEYWORDS = ["home", "friends", "peace", "light", "stories", "music", "color", "dreams", "family", "time", "hope", "sky"]
END_PHRASES = [
    "Is there anything else I can help with?",
    "Have a nice day.",
    "That is all.",
    "Let me know if you have more questions.",
]
REQUESTS = {
    1: "Write one sentence about the {t}.",
    2: "Write two sentences about the {t}.",
    3: "Write a short paragraph about the {t}.",
}
# Fixed order in which instructions are listed in a prompt (so the prompt is a function of the key).
INSTRUCTIONS = [
    "change_case:english_lowercase",
    "change_case:english_capital",
    "punctuation:no_comma",
    "keywords:existence",
    "detectable_format:title",
    "detectable_content:postscript",
    "startend:end_checker",
    "startend:quotation",
    "length_constraints:number_words",
]
CONFLICTS = {
    frozenset(p)
    for p in [
        ("change_case:english_lowercase", "change_case:english_capital"),
        ("startend:quotation", "startend:end_checker"),
        ("startend:quotation", "detectable_content:postscript"),
        ("detectable_content:postscript", "startend:end_checker"),
        ("detectable_format:title", "startend:quotation"),
    ]
}


def _count_words(text: str) -> int:
    # IFEval counts words with nltk's RegexpTokenizer(r"\w+")
    return len(re.findall(r"\w+", text))


def _describe(iid: str, kw: dict) -> str:
    if iid == "change_case:english_lowercase":
        return "Your entire response should be in lowercase letters."
    if iid == "change_case:english_capital":
        return "Your entire response should be in capital letters."
    if iid == "punctuation:no_comma":
        return "Do not use any commas in your response."
    if iid == "keywords:existence":
        k = kw["keywords"]
        return f"Include the keyword {k[0]}." if len(k) == 1 else f"Include the keywords {k[0]} and {k[1]}."
    if iid == "detectable_format:title":
        return "Include a title wrapped in double angular brackets, such as <<my title>>."
    if iid == "detectable_content:postscript":
        return f"At the end of your response, add a postscript starting with {kw['postscript_marker']}"
    if iid == "startend:end_checker":
        return f'End your response with the exact phrase "{kw["end_phrase"]}"'
    if iid == "startend:quotation":
        return "Wrap your entire response with double quotation marks."
    if iid == "length_constraints:number_words":
        return f"Answer with {kw['relation']} {kw['num_words']} words."
    raise KeyError(iid)


def _ifeval_text(
    topic: str, n_sent: int, ids: list[str], kw: dict[str, dict], variant: int, break_id: str | None = None
) -> str:
    """Build a response following every instruction in ``ids`` except ``break_id`` (violated)."""
    adjs, fact, when = TOPICS[topic]
    follow = {i for i in ids if i != break_id}
    with_comma = f"In the {when}, the {topic} feels {adjs[2]}."
    comma_sent = (
        f"The {topic} feels {adjs[2]} in the {when}."
        if ("punctuation:no_comma" in follow or variant == 0)
        else with_comma
    )
    bank = [
        f"The {topic} is {adjs[0]} and {adjs[1]}.",
        comma_sent,
        f"{fact}.",
        f"I like to visit the {topic} with a friend.",
        f"The {topic} makes me happy.",
        "It is a good place to rest.",
        "I could stay there all day.",
    ]
    if variant == 1:
        bank[0], bank[1] = bank[1], bank[0]
    body = bank[:n_sent]
    extra = bank[n_sent:]
    if break_id == "punctuation:no_comma":  # the violation: the comma version of a sentence, same length
        body = [with_comma if x == comma_sent else x for x in body]
        if with_comma not in body:
            body[0] = with_comma

    def assemble(body: list[str]) -> str:
        sents = list(body)
        if "keywords:existence" in follow:
            k = kw["keywords:existence"]["keywords"]
            sents.append(f"It reminds me of {k[0]}." if len(k) == 1 else f"It reminds me of {k[0]} and {k[1]}.")
        text = " ".join(sents)
        if "detectable_format:title" in follow:
            text = f"<<The {topic.capitalize()}>>\n{text}"
        if "detectable_content:postscript" in follow:
            text += f"\n{kw['detectable_content:postscript']['postscript_marker']} I hope you visit the {topic} soon."
        if "startend:end_checker" in follow:
            text += " " + kw["startend:end_checker"]["end_phrase"]
        if "change_case:english_lowercase" in follow:
            text = text.lower()
        elif "change_case:english_capital" in follow:
            text = text.upper()
        if "startend:quotation" in follow:
            text = f'"{text}"'
        return text

    text = assemble(body)
    length = kw.get("length_constraints:number_words")
    if length is not None and "length_constraints:number_words" in ids:
        # "at least N" followed, or "less than N" violated: add sentences until there are >= N words
        if (length["relation"] == "at least") == (break_id != "length_constraints:number_words"):
            while _count_words(text) < length["num_words"]:
                body.append(extra.pop(0))
                text = assemble(body)
    return text


def ifeval_follows(text: str, iid: str, kw: dict) -> bool:
    """Google IFEval's strict check for the instructions used here (self-check of the generator; the project's
    verifier in rewards/ is the reference)."""
    if iid == "change_case:english_lowercase":
        return text.islower()
    if iid == "change_case:english_capital":
        return text.isupper()
    if iid == "punctuation:no_comma":
        return "," not in text
    if iid == "keywords:existence":
        return all(re.search(k, text, flags=re.IGNORECASE) for k in kw["keywords"])
    if iid == "detectable_format:title":
        return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", text))
    if iid == "detectable_content:postscript":
        return bool(re.findall(r"\s*p\.\s?s\..*$", text.lower(), flags=re.MULTILINE))
    if iid == "startend:end_checker":
        return text.strip().lower().endswith(kw["end_phrase"].strip().lower())
    if iid == "startend:quotation":
        t = text.strip()
        return len(t) > 1 and t[0] == '"' and t[-1] == '"'
    if iid == "length_constraints:number_words":
        n = _count_words(text)
        return n < kw["num_words"] if kw["relation"] == "less than" else n >= kw["num_words"]
    raise KeyError(iid)


def _follows_all(text: str, ground_truth: str) -> bool:
    """Whether ``text`` follows every instruction of an ifeval ground truth (its JSON string)."""
    gt = json.loads(ground_truth)
    return all(ifeval_follows(text, i, kw) for i, kw in zip(gt["instruction_id_list"], gt["kwargs"]))


def gen_ifeval(rng: Random, difficulty: int = DIFFICULTY) -> Example:
    while True:  # redraw the rare combination whose rejected response happens to satisfy everything
        ex = _gen_ifeval_once(rng)
        if ex is not None:
            return ex


def _gen_ifeval_once(rng: Random) -> Example | None:
    topic = rng.choice(sorted(TOPICS))
    n_sent = rng.choice([1, 1, 2, 2, 3])
    n_inst = 1 if rng.random() < 0.65 else 2
    while True:
        ids = rng.sample(INSTRUCTIONS, n_inst)
        if len(ids) < 2 or frozenset(ids) not in CONFLICTS:
            break
    ids = [i for i in INSTRUCTIONS if i in ids]  # canonical order
    kw: dict[str, dict] = {}
    for i in ids:
        if i == "keywords:existence":
            kw[i] = {"keywords": sorted(rng.sample(KEYWORDS, rng.choice([1, 2])))}
        elif i == "detectable_content:postscript":
            kw[i] = {"postscript_marker": "P.S."}
        elif i == "startend:end_checker":
            kw[i] = {"end_phrase": rng.choice(END_PHRASES)}
        elif i == "length_constraints:number_words":
            kw[i] = {"relation": rng.choice(["less than", "at least"]), "num_words": 0}
        else:
            kw[i] = {}
    variant = rng.randrange(2)
    if {"change_case:english_lowercase", "change_case:english_capital"} & set(ids):
        n_sent = max(n_sent, 2)  # IFEval's case checks also run langdetect, unreliable on one short sentence
    if "length_constraints:number_words" in kw:
        lk = kw["length_constraints:number_words"]
        # "at least N" asks for a paragraph that must grow past N words; "less than N" for a short answer
        n_sent = 3 if lk["relation"] == "at least" else min(n_sent, 2)
        rest = [i for i in ids if i != "length_constraints:number_words"]
        n = _count_words(_ifeval_text(topic, n_sent, rest, kw, variant))
        lk["num_words"] = n + (rng.randint(2, 6) if lk["relation"] == "less than" else rng.randint(3, 10))
    response = _ifeval_text(topic, n_sent, ids, kw, variant)
    broken = rng.choice(ids)
    rejected = _ifeval_text(topic, n_sent, ids, kw, variant, break_id=broken)
    gt = json.dumps({"instruction_id_list": ids, "kwargs": [kw[i] for i in ids]})
    assert _follows_all(response, gt), (response, ids, kw)
    if _follows_all(rejected, gt):
        return None
    request = REQUESTS[n_sent].format(t=topic)
    prompt = " ".join([request] + [_describe(i, kw[i]) for i in ids])
    plain = _ifeval_text(topic, n_sent, [], {}, variant)
    return Example("ifeval", "ifeval|" + prompt, prompt, response, rejected, gt, plain)


def _ifeval_key(prompt: str) -> str:
    # one fixed phrasing per request/instruction and a fixed instruction order: the prompt is the key
    return "ifeval|" + prompt


GENERATORS = {"gsm8k": gen_gsm, "math": gen_math, "ifeval": gen_ifeval}


def problem_key(dataset: str, prompt: str) -> str:
    """Canonical, wording-independent key of a generated problem, recomputed from its prompt text."""
    return {"gsm8k": _gsm_key, "math": _math_key, "ifeval": _ifeval_key}[dataset](prompt)


def family_of(prompt: str) -> str:
    """Which family generated a prompt (by its surface form)."""
    if prompt.startswith("Write "):
        return "ifeval"
    if "$" in prompt:
        return "math"
    return "gsm8k"


# ----------------------------------------------------------------------------------------------------------
# Sampling and files
# ----------------------------------------------------------------------------------------------------------
SYSTEM_PROMPTS = ["You are a helpful assistant.", "You are a careful assistant. Answer briefly."]


def sample(
    family: str,
    rng: Random,
    n: int,
    split: str,
    difficulty: int = DIFFICULTY,
    distinct: bool = False,
    ground_truths: dict | None = None,
) -> list[Example]:
    """n examples of one family from the train or eval partition (distinct keys if asked)."""
    gen = GENERATORS[family]
    out: list[Example] = []
    seen: set[str] = set()
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 200 * n:  # a small problem space (low difficulty) cannot fill the eval set with distinct keys
            print(f"warning: only {len(out)} distinct {split} problems for {family} (asked for {n})", file=sys.stderr)
            break
        ex = gen(rng, difficulty)
        if is_eval_key(ex.key) != (split == "eval"):
            continue
        if distinct and ex.key in seen:
            continue
        seen.add(ex.key)
        assert problem_key(family, ex.prompt) == ex.key, (ex.prompt, ex.key)
        if ground_truths is not None:
            ground_truths[ex.prompt] = (ex.dataset, ex.ground_truth, ex.response)
        out.append(ex)
    return out


def _sft_draws(family: str, r: Random, n: int, difficulty: int, ground_truths: dict | None = None):
    """A family's n SFT conversations as drawn from its "sft" stream `r`: (problem, system prompt or None, second
    problem or None); 5% exercise the system role, 3% are two-problem conversations. The answers draw from other
    streams, so the problems a count gives are known without writing them (build's validation set)."""
    for ex in sample(family, r, n, "train", difficulty, ground_truths=ground_truths):
        u = r.random()
        system = r.choice(SYSTEM_PROMPTS) if u < 0.05 else None
        second = sample(family, r, 1, "train", difficulty, ground_truths=ground_truths)[0] if 0.05 <= u < 0.08 else None
        yield ex, system, second


def _user(text: str) -> dict:
    return {"role": "user", "content": text}


def _assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def gen_fact(rng: Random, difficulty: int = DIFFICULTY) -> tuple[int, str, int, int]:
    """One arithmetic fact (x, op, y, x op y). Half are shaped like the word problems' first steps (two numbers up
    to `hi`, or up to `mul_hi` groups of up to `hi`), where most of their facts are; half cover the wider range of
    second steps, which add to / take from a first result, and the one-digit products of the math family."""
    hi, mul_hi, _ = _gsm_ranges(difficulty)
    top = max(2 * hi, mul_hi * hi)  # the largest first-step result
    op = rng.choice("+-*")
    if rng.random() < 0.5:
        x, y = _first_step_operands(rng, {"+": "add", "-": "sub", "*": "mul"}[op], hi, mul_hi)
    elif op == "+":
        x, y = rng.randint(1, top), rng.randint(1, hi)
        if rng.random() < 0.3:
            x, y = y, x
    elif op == "-":
        x = rng.randint(2, top + hi)
        y = rng.randint(1, min(x - 1, 3 * hi))
    else:
        x, y = rng.randint(2, 9), rng.randint(2, hi)
        if rng.random() < 0.5:
            x, y = y, x
    return x, op, y, {"+": x + y, "-": x - y, "*": x * y}[op]


def gen_drill(rng: Random, difficulty: int = DIFFICULTY) -> dict:
    """An SFT conversation that practises DRILL_FACTS facts, written as the word problems' equations are."""
    facts = [gen_fact(rng, difficulty) for _ in range(DRILL_FACTS)]
    # The operands are not repeated in the question: what the model has to learn is the result given "x op y =",
    # and a question listing them would double the drill's tokens (the drill is most of the SFT mix's tokens).
    answer = _equations(facts)
    return {"messages": [_user(DRILL_PROMPT), _assistant(answer)]}


def _in_facts(ex: Example) -> str:
    """A math response worked in the drill's notation: its facts, then the boxed answer."""
    return f"{ex.facts} The final answer is $\\boxed{{{ex.ground_truth}}}$."


def _terse(response: str) -> str:
    """A gsm8k response without its working: just its last sentence, "The answer is N."."""
    return response[response.rindex("The answer is") :]


def build(
    difficulty: int = DIFFICULTY,
    seed: int = SEED,
    ground_truths: dict[str, tuple[str, str, str]] | None = None,
    terse_share: float = TERSE_SHARE,
    plain_share: float = PLAIN_SHARE,
    compact_share: float = COMPACT_SHARE,
    sft_rows: dict[str, int] | None = None,
    drill_rows: int = N_DRILL,
) -> dict[str, list[dict]]:
    """All embedded files as {name: rows}. Deterministic in (difficulty, seed).

    ``sft_rows`` sets a family's number of SFT conversations (N_SFT's otherwise) and ``drill_rows`` the arithmetic
    drill's, for experiments with the mix (bench/experiment_sft_mix.py). The RLVR, eval and validation files stay as
    they are (a mix's SFT conversations on validation problems are left out); the preference pairs change with the
    word problems' and instructions' counts (their bare and plain draws share streams with SFT's).

    ``ground_truths``, if given, is filled with {prompt: (verifier, ground truth, a correct response)} for every
    generated prompt (a prompt determines its answer), so that tests can score the shipped responses."""
    unknown = set(sft_rows or {}) - set(FAMILIES)
    if unknown:
        raise ValueError(f"sft_rows: unknown families {sorted(unknown)}; the families are {list(FAMILIES)}")
    files: dict[str, list[dict]] = {"sft_train": [], "preference_train": [], "rlvr_train": []}
    on_validation: set[int] = set()  # the SFT conversations (by id) on validation problems (past the first draws)
    for fam in FAMILIES:
        # one independent stream per family and file, so changing one count leaves the others unchanged
        def rng_for(name: str) -> Random:
            return Random(f"{seed}|{fam}|{name}|{difficulty}")

        # Like real SFT mixtures, the word problems' demonstrations are of two kinds: worked answers and bare ones
        # ("The answer is 22."). A 1M-parameter model cannot do a two-step problem in its head, so the bare kind is
        # usually wrong when the model imitates it: the behaviour DPO and RLVR have to learn to avoid. Its own
        # stream, so the problems themselves do not depend on terse_share.
        terse_rng = rng_for("terse")

        def bare() -> bool:  # draw: give this gsm8k answer (SFT demonstration or rejected answer) bare?
            return fam == "gsm8k" and terse_rng.random() < terse_share

        # Likewise, IFEval-style demonstrations often answer the request and ignore the formatting instructions added
        # to it (no title, no end phrase, ...), and SFT teaches the model to do the same: the behaviour the preference
        # pairs (as many of the rejected answers are such plain answers) and the IFEval reward have to correct.
        plain_rng = rng_for("plain")

        def ignores() -> bool:  # draw: does this ifeval answer (demonstration or rejected answer) ignore them?
            return fam == "ifeval" and plain_rng.random() < plain_share

        # And the MATH-style demonstrations are of two kinds too: some work in the drill's notation ("7 * 3 = 21.
        # 21 - 5 = 16. The final answer is $\\boxed{16}$."), the others (compact_share) in compact LaTeX ("$7 \\cdot 3
        # - 5 = 21 - 5 = 16$. ..."), where the tiny model gets its products and sums wrong more often: it learnt them
        # as drill facts. The chosen preference answers are of the first kind, the rejected ones of the second, and
        # the verifier reward pays for what each gets right. Expansions are always in LaTeX (their products are
        # negative: not drill facts).
        compact_rng = rng_for("compact")

        def answer(ex: Example) -> str:
            if bare():
                return _terse(ex.response)
            if ignores():
                return ex.plain
            if ex.facts and compact_rng.random() >= compact_share:
                return _in_facts(ex)
            return ex.response

        conversations = []  # (its problems' keys, its messages); into the file once the validation set is drawn
        count = (sft_rows or {}).get(fam, N_SFT[fam])
        for ex, system, second in _sft_draws(fam, rng_for("sft"), count, difficulty, ground_truths):
            keys, msgs = {ex.key}, [_user(ex.prompt), _assistant(answer(ex))]
            if system:
                msgs.insert(0, {"role": "system", "content": system})
            if second:
                keys.add(second.key)
                msgs += [_user(second.prompt), _assistant(answer(second))]
            conversations.append((keys, msgs))
        # every problem a training file or the held-out pairs use: the validation set uses none. For SFT, those of the
        # first VALIDATION_APART_SFT draws whatever the count, so that every mix keeps the same validation set (earlier
        # runs' results on it are paired by prompt id) and leaves out its own conversations on validation problems.
        used_keys = {
            problem.key
            for ex, _, second in _sft_draws(fam, rng_for("sft"), VALIDATION_APART_SFT, difficulty)
            for problem in (ex, second)
            if problem
        }

        def preference_pair(ex: Example, r: Random) -> dict:
            prompt = [_user(ex.prompt)]
            if r.random() < 0.05:
                prompt.insert(0, {"role": "system", "content": r.choice(SYSTEM_PROMPTS)})
            chosen = _in_facts(ex) if ex.facts else ex.response
            rejected = _terse(ex.rejected) if bare() else ex.rejected  # the wrong answer given bare
            if ignores() and not _follows_all(ex.plain, ex.ground_truth):  # (plain can follow "less than N words")
                rejected = ex.plain
            return {"prompt": prompt, "chosen": [_assistant(chosen)], "rejected": [_assistant(rejected)]}

        r = rng_for("preference")
        preference_keys = set()
        for ex in sample(fam, r, N_PREF, "train", difficulty, ground_truths=ground_truths):
            preference_keys.add(ex.key)
            files["preference_train"].append(preference_pair(ex, r))

        r = rng_for("rlvr")
        for ex in sample(fam, r, N_RLVR, "train", difficulty, ground_truths=ground_truths):
            used_keys.add(ex.key)
            files["rlvr_train"].append(
                {"messages": [_user(ex.prompt)], "ground_truth": ex.ground_truth, "dataset": ex.dataset}
            )

        r = rng_for("eval")
        files[f"eval_{fam}"] = [
            {"messages": [_user(ex.prompt)], "ground_truth": ex.ground_truth, "dataset": ex.dataset}
            for ex in sample(fam, r, N_EVAL, "eval", difficulty, distinct=True, ground_truths=ground_truths)
        ]

        # Held-out pairs, made like the training pairs, on train-partition problems that no training pair uses (the
        # eval partition is the benchmarks'). Drawn last, so that the files above do not depend on them.
        r = rng_for("preference_heldout")
        held_out = sample(fam, r, 4 * N_PREF_HELDOUT, "train", difficulty, distinct=True)
        held_out = [ex for ex in held_out if ex.key not in preference_keys][:N_PREF_HELDOUT]
        files.setdefault("preference_heldout", []).extend(preference_pair(ex, r) for ex in held_out)

        # The validation set settings are chosen on (conf/eval/validation.yaml): train-partition problems that no
        # training file and no held-out pair uses, in any wording. Drawn last, so that no file above depends on it.
        used_keys |= preference_keys | {ex.key for ex in held_out}
        r = rng_for("validation")
        fresh = sample(fam, r, 4 * N_VALIDATION, "train", difficulty, distinct=True, ground_truths=ground_truths)
        validation = [ex for ex in fresh if ex.key not in used_keys][:N_VALIDATION]
        files.setdefault("rlvr_validation", []).extend(
            {"messages": [_user(ex.prompt)], "ground_truth": ex.ground_truth, "dataset": ex.dataset}
            for ex in validation
        )
        validation_keys = {ex.key for ex in validation}
        for keys, msgs in conversations:
            files["sft_train"].append(row := {"messages": msgs})
            if keys & validation_keys:  # left out after the shuffle below, so that the others keep their order
                on_validation.add(id(row))

    drill_rng = Random(f"{seed}|drill|{difficulty}")
    files["arithmetic_drill"] = [gen_drill(drill_rng, difficulty) for _ in range(drill_rows)]

    # interleave families deterministically so a prefix of a file (max_rows) covers all of them
    for name in ("sft_train", "preference_train", "rlvr_train", "preference_heldout", "rlvr_validation"):
        Random(f"{seed}|shuffle|{name}").shuffle(files[name])
    files["sft_train"] = [row for row in files["sft_train"] if id(row) not in on_validation]
    return files | build_tools(difficulty, seed)


# ----------------------------------------------------------------------------------------------------------
# Tool use: the word problems again, with a calculator offered
def gsm_expression(key: str) -> str:
    """The whole problem as one calculator expression, from its key: "gsm|mul,sub|3,18,52" -> "3 * 18 - 52" (the
    second step only adds or takes away, so no brackets are ever needed)."""
    _, ops, nums = key.split("|")
    symbols = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
    numbers = nums.split(",")
    expression = numbers[0]
    for op, number in zip(ops.split(","), numbers[1:]):
        expression += f" {symbols[op]} {number}"
    return expression


def _call(expression: str) -> dict:
    """An assistant turn that calls the calculator (arguments as a JSON string, OpenAI's form)."""
    function = {"name": "calculator", "arguments": json.dumps({"expression": expression})}
    return {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": function}]}


def _result(value: object) -> dict:
    return {"role": "tool", "name": "calculator", "content": str(value)}


def _uses(value: object) -> str:
    """The answer after a call: its result, copied from the tool turn just before. (Restating the expression first,
    "8 - 1 - 3 = 4. The answer is 4.", had the tiny model work the sum out again in its head and ignore the result
    in 15% of the held-out problems.)"""
    return f"The answer is {value}."


def _wrong_expression(key: str, rng: Random) -> str:
    """The problem's expression with one operation swapped (+ for *, - for +, ...): a wrong call."""
    _, ops, nums = key.split("|")
    ops_list = ops.split(",")
    i = rng.randrange(len(ops_list))
    ops_list[i] = {"add": "sub", "sub": "add", "mul": "add", "div": "mul"}[ops_list[i]]
    return gsm_expression(f"gsm|{','.join(ops_list)}|{nums}")


def build_tools(difficulty: int = DIFFICULTY, seed: int = SEED, skip_share: float = TOOL_SKIP_SHARE) -> dict:
    """The tool-use files as {name: rows}, from streams of their own (the other files do not change):

    * sft_tools_train: word problems with the calculator offered (`tools`). Half the demonstrations call it with the
      whole problem as one expression ("3 * 18 - 52") and state its result ("The answer is 2."); the rest
      (skip_share) answer in the head, worked or bare, as the plain demonstrations do -- whether calling pays is
      left to the preference pairs and the tool_call reward.
    * preference_tools_train: two kinds of pair. Whether to call: chosen calls with the right expression; rejected
      answers in the head with a mistake, or calls with a wrong operation. What to do with the result: the prompt
      holds the call and its result; chosen states it, rejected states a number off by one. Every completion is
      the model's own turn: no pair asks DPO to make a tool result more likely.
    * rlvr_tools_train: prompts for the `tool_call` verifier: the answer (gsm8k) and the expected call."""
    files: dict[str, list[dict]] = {}

    def rng_for(name: str) -> Random:
        return Random(f"{seed}|tools|{name}|{difficulty}")

    r = rng_for("sft")
    rows = []
    for ex in sample("gsm8k", r, N_TOOLS_SFT, "train", difficulty):
        expression = gsm_expression(ex.key)
        if r.random() < skip_share:
            answer = [_assistant(_terse(ex.response) if r.random() < 0.5 else ex.response)]
        else:
            answer = [_call(expression), _result(ex.ground_truth), _assistant(_uses(ex.ground_truth))]
        rows.append({"messages": [_user(ex.prompt), *answer], "tools": TOOLS_OFFERED})
    files["sft_tools_train"] = rows

    r = rng_for("preference")
    rows = []
    for ex in sample("gsm8k", r, N_TOOLS_PREF, "train", difficulty):
        expression, answer = gsm_expression(ex.key), int(ex.ground_truth)
        if r.random() < 0.7:  # whether (and how) to call
            prompt, chosen = [_user(ex.prompt)], [_call(expression)]
            if r.random() < 0.5:
                rejected = [_assistant(_terse(ex.rejected) if r.random() < 0.5 else ex.rejected)]
            else:
                rejected = [_call(_wrong_expression(ex.key, r))]
        else:  # what to do with the result
            prompt = [_user(ex.prompt), _call(expression), _result(answer)]
            wrong = answer + r.choice([-1, 1])
            chosen, rejected = [_assistant(_uses(answer))], [_assistant(_uses(wrong))]
        rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected, "tools": TOOLS_OFFERED})
    files["preference_tools_train"] = rows

    r = rng_for("rlvr")
    files["rlvr_tools_train"] = [
        {
            "messages": [_user(ex.prompt)],
            "ground_truth": json.dumps(
                {
                    "answer": ex.ground_truth,
                    "answer_verifier": "gsm8k",
                    "calls": [{"name": "calculator", "arguments": {"expression": gsm_expression(ex.key)}}],
                }
            ),
            "dataset": "tool_call",
        }
        for ex in sample("gsm8k", r, N_TOOLS_RLVR, "train", difficulty)
    ]
    return files


def dumps_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_embedded(
    out_dir: Path = EMBEDDED_DIR,
    difficulty: int = DIFFICULTY,
    seed: int = SEED,
    terse_share: float = TERSE_SHARE,
    plain_share: float = PLAIN_SHARE,
    compact_share: float = COMPACT_SHARE,
) -> dict[str, int]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, rows in build(
        difficulty, seed, terse_share=terse_share, plain_share=plain_share, compact_share=compact_share
    ).items():
        (out_dir / f"{name}.jsonl").write_bytes(dumps_jsonl(rows).encode("utf-8"))
        counts[name] = len(rows)
    return counts


# ----------------------------------------------------------------------------------------------------------
# Hub-schema samples (data/samples/): a few hand-written rows in the exact column layout of the Tülu 3 hub
# datasets, so the hub-loading code paths can be tested offline. The contents are made up.
# ----------------------------------------------------------------------------------------------------------
def _m(role: str, content: str) -> dict:
    return {"role": role, "content": content}


SAMPLE_SFT = [  # allenai/tulu-3-sft-mixture: id, messages, source
    {
        "id": "oasst1_1001",
        "messages": [_m("user", "What is the capital of France?"), _m("assistant", "The capital of France is Paris.")],
        "source": "ai2-adapt-dev/oasst1_converted",
    },
    {
        "id": "personahub_math_2002",
        "messages": [
            _m("user", "A baker sells 12 rolls in the morning and 15 in the afternoon. How many rolls does she sell?"),
            _m("assistant", "She sells 12 + 15 = 27 rolls.\n\nThe answer is 27."),
        ],
        "source": "ai2-adapt-dev/personahub_math_v5_regen_149960",
    },
    {
        "id": "tulu_if_3003",
        "messages": [
            _m("system", "You are a helpful assistant."),
            _m("user", "Describe a sunrise in one sentence. Do not use any commas."),
            _m("assistant", "The sun climbs slowly over the hills and paints the sky gold."),
        ],
        "source": "ai2-adapt-dev/personahub_ifdata_manual_seed_v3_29980",
    },
    {
        "id": "wildchat_4004",
        "messages": [
            _m("user", "Give me a word that rhymes with cat."),
            _m("assistant", "Hat."),
            _m("user", "And one more?"),
            _m("assistant", "Bat."),
        ],
        "source": "ai2-adapt-dev/tulu_v3.9_wildchat_100k",
    },
    {
        "id": "flan_5005",
        "messages": [_m("user", "Translate to French: Good morning."), _m("assistant", "Bonjour.")],
        "source": "ai2-adapt-dev/flan_v2_converted",
    },
]

SAMPLE_PREFERENCE = [  # allenai/llama-3.1-tulu-3-8b-preference-mixture: id, prompt, chosen, rejected, source
    {
        "id": "pref_1",
        "prompt": "What is 7 times 8?",
        "chosen": [_m("user", "What is 7 times 8?"), _m("assistant", "7 times 8 is 56.")],
        "rejected": [_m("user", "What is 7 times 8?"), _m("assistant", "7 times 8 is 54.")],
        "source": "allenai/tulu-3-sft-reused-on-policy-8b",
    },
    {
        "id": "pref_2",
        "prompt": "Write a haiku about rain. Use only lowercase letters.",
        "chosen": [
            _m("user", "Write a haiku about rain. Use only lowercase letters."),
            _m("assistant", "soft rain on the roof\nthe garden drinks in silence\nclouds drift to the east"),
        ],
        "rejected": [
            _m("user", "Write a haiku about rain. Use only lowercase letters."),
            _m("assistant", "Soft rain on the roof\nThe garden drinks in silence\nClouds drift to the east"),
        ],
        "source": "allenai/tulu-3-IF-augmented-on-policy-8b",
    },
    {
        "id": "pref_3",
        "prompt": "Name a primary color.",
        "chosen": [_m("user", "Name a primary color."), _m("assistant", "Red is a primary color.")],
        "rejected": [_m("user", "Name a primary color."), _m("assistant", "Green is a primary color of paint.")],
        "source": "allenai/tulu-3-ultrafeedback-cleaned-on-policy-8b",
    },
    {
        "id": "pref_4",
        "prompt": "Hi! Can you help me with a list?",  # multi-turn: the shared prefix has 3 turns
        "chosen": [
            _m("user", "Hi! Can you help me with a list?"),
            _m("assistant", "Of course. What is the list for?"),
            _m("user", "Three fruits, please."),
            _m("assistant", "Apple, banana, cherry."),
        ],
        "rejected": [
            _m("user", "Hi! Can you help me with a list?"),
            _m("assistant", "Of course. What is the list for?"),
            _m("user", "Three fruits, please."),
            _m("assistant", "Apple, carrot."),
        ],
        "source": "allenai/tulu-3-wildchat-reused-on-policy-8b",
    },
    {
        "id": "pref_5",
        "prompt": "Is the sun a star?",
        "chosen": [
            _m("system", "Answer in one sentence."),
            _m("user", "Is the sun a star?"),
            _m("assistant", "Yes, the sun is a star."),
        ],
        "rejected": [
            _m("system", "Answer in one sentence."),
            _m("user", "Is the sun a star?"),
            _m("assistant", "No, the sun is a planet."),
        ],
        "source": "allenai/tulu-3-sft-reused-off-policy",
    },
]

_IF_GT_KEYS = [
    "N",
    "quantifier",
    "end_phrase",
    "keyword_list",
    "word",
    "forbidden_words",
    "letter",
    "i",
    "first_word",
    "postscript_marker",
    "options",
    "section_splitter",
    "original_prompt",
]


def _if_gt(func: str, **kw: object) -> str:  # open-instruct's IFEval ground truth: func_name + all-null args
    return json.dumps({"func_name": func, **{k: kw.get(k) for k in _IF_GT_KEYS}})


# allenai/RLVR-GSM-MATH-IF-Mixed-Constraints: messages, ground_truth, dataset, constraint_type, constraint
SAMPLE_RLVR = [
    {
        "messages": [
            _m(
                "user",
                "Question: Tom has 3 boxes with 6 pencils each. He gives away 4 pencils. How many "
                "pencils does he have left?\nAnswer: Let's think step by step.",
            )
        ],
        "ground_truth": "14",
        "dataset": "gsm8k",
        "constraint_type": None,
        "constraint": None,
    },
    {
        "messages": [_m("user", "Simplify $\\frac{6}{8}$. Present the answer in LaTex format: \\boxed{Your answer}")],
        "ground_truth": "\\frac{3}{4}",
        "dataset": "MATH",
        "constraint_type": None,
        "constraint": None,
    },
    {
        "messages": [
            _m(
                "user",
                "Write a short poem about the sea. Your entire response should be in English, and in "
                "all lowercase letters. No capital letters are allowed.",
            )
        ],
        "ground_truth": _if_gt("validate_lowercase"),
        "dataset": "ifeval",
        "constraint_type": "Change Cases",
        "constraint": "Your entire response should be in English, and in all lowercase letters. No capital letters are "
        "allowed.",
    },
    {
        "messages": [
            _m("user", "Solve for $x$: $2x + 3 = 11$. Present the answer in LaTex format: \\boxed{Your answer}")
        ],
        "ground_truth": "4",
        "dataset": "MATH",
        "constraint_type": None,
        "constraint": None,
    },
    {
        "messages": [_m("user", "Describe your favorite meal. Answer with at least 40 words.")],
        "ground_truth": _if_gt("validate_word_constraint", N=40, quantifier="at least"),
        "dataset": "ifeval",
        "constraint_type": "Number Words",
        "constraint": "Answer with at least / around / at most {N} words",
    },
]


def write_samples(out_dir: Path = SAMPLES_DIR) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in (
        ("tulu-3-sft-mixture", SAMPLE_SFT),
        ("tulu-3-preference-mixture", SAMPLE_PREFERENCE),
        ("rlvr-gsm-math-if", SAMPLE_RLVR),
    ):
        (out_dir / f"{name}.jsonl").write_bytes(dumps_jsonl(rows).encode("utf-8"))
    # the Parquet copy exercises the parquet path (nested message lists, as in the hub's parquet shards)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(SAMPLE_PREFERENCE), out_dir / "tulu-3-preference-mixture.parquet")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=EMBEDDED_DIR, help="output directory (default: data/embedded)")
    ap.add_argument("--difficulty", type=int, default=DIFFICULTY, choices=[1, 2, 3])
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument(
        "--terse-share",
        type=float,
        default=TERSE_SHARE,
        help="share of gsm8k SFT answers (and of rejected preference answers) given without working",
    )
    ap.add_argument(
        "--plain-share",
        type=float,
        default=PLAIN_SHARE,
        help="share of ifeval SFT answers (and of rejected answers) that ignore the instructions",
    )
    ap.add_argument(
        "--compact-share",
        type=float,
        default=COMPACT_SHARE,
        help="share of math SFT answers worked in compact LaTeX rather than as drill facts",
    )
    args = ap.parse_args(argv)
    counts = write_embedded(
        args.out, args.difficulty, args.seed, args.terse_share, args.plain_share, args.compact_share
    )
    if args.out == EMBEDDED_DIR:
        write_samples()
    for name, n in counts.items():
        print(f"{args.out}/{name}.jsonl: {n} rows")


if __name__ == "__main__":
    main()
