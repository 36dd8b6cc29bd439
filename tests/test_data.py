"""The embedded data (data/generate.py) and the loader every stage uses (data/loading.py)."""

from __future__ import annotations

import json
import operator
import random
import re
from pathlib import Path

import pytest
from helpers import embedded_rows

from data import generate
from data.loading import DataError, describe, fingerprint, load_preference, load_rlvr, load_sft

REPO = Path(__file__).resolve().parent.parent
EMBEDDED = REPO / "data" / "embedded"
SAMPLES = REPO / "data" / "samples"
TRAIN_FILES = ("sft_train", "preference_train", "rlvr_train")
EVAL_FILES = tuple(f"eval_{f}" for f in generate.FAMILIES)
ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}  # for checking facts


def _user_turns(row: dict) -> list[str]:
    msgs = row.get("messages") or row["prompt"]
    return [m["content"] for m in msgs if m["role"] == "user"]


def _jsonl(tmp_path: Path, rows: list, name: str = "bad.jsonl") -> str:
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(p)


# ------------------------------------------------------------------------------------------------ generator
@pytest.fixture(scope="module")
def built():
    """The generator's output, rebuilt in memory, plus {prompt: (verifier, ground truth, response)}."""
    gts: dict = {}
    return generate.build(ground_truths=gts), gts


def test_generator_is_deterministic_and_matches_the_shipped_files(built, tmp_path):
    files, _ = built
    assert sorted(p.stem for p in EMBEDDED.glob("*.jsonl")) == sorted(files)
    for name, rows in files.items():
        assert generate.dumps_jsonl(rows).encode("utf-8") == (EMBEDDED / f"{name}.jsonl").read_bytes(), (
            f"{name}.jsonl differs from the generator's output: rerun python -m data.generate"
        )
    generate.write_samples(tmp_path)
    for p in SAMPLES.glob("*.jsonl"):
        assert (tmp_path / p.name).read_bytes() == p.read_bytes(), p.name


def test_sizes_and_family_counts():
    assert sum(p.stat().st_size for p in EMBEDDED.iterdir()) < 8_000_000
    counts = {name: {} for name in TRAIN_FILES}
    for name in TRAIN_FILES:
        for row in embedded_rows(name):
            fam = generate.family_of(_user_turns(row)[0])
            counts[name][fam] = counts[name].get(fam, 0) + 1
    for fam in generate.FAMILIES:
        assert counts["sft_train"][fam] == generate.N_SFT[fam]  # none on validation problems: the first draws
        assert counts["preference_train"][fam] == generate.N_PREF
        assert counts["rlvr_train"][fam] == generate.N_RLVR
    for fam in generate.FAMILIES:
        rows = embedded_rows(f"eval_{fam}")
        assert len(rows) == generate.N_EVAL and {r["dataset"] for r in rows} == {fam}
    for row in embedded_rows("rlvr_train"):
        assert generate.family_of(row["messages"][0]["content"]) == row["dataset"]
    sft = embedded_rows("sft_train")  # the chat template gets exercised: system messages and multi-turn rows
    assert any(r["messages"][0]["role"] == "system" for r in sft)
    assert any(sum(m["role"] == "assistant" for m in r["messages"]) > 1 for r in sft)


def test_another_sft_mix_keeps_the_validation_set_and_leaves_out_its_conversations_on_validation_problems(built):
    default, _ = built
    mix = generate.build(sft_rows={"gsm8k": 100, "math": 3300}, drill_rows=50)
    for name in ("rlvr_train", "rlvr_validation") + EVAL_FILES:
        assert mix[name] == default[name], name  # earlier runs' validation results stay comparable, prompt by prompt
    validation = {generate.problem_key(row["dataset"], row["messages"][0]["content"]) for row in mix["rlvr_validation"]}
    problems = [
        {generate.problem_key(generate.family_of(text), text) for text in _user_turns(row)} for row in mix["sft_train"]
    ]
    assert not any(keys & validation for keys in problems)
    families = [generate.family_of(_user_turns(row)[0]) for row in mix["sft_train"]]
    counts = {f: families.count(f) for f in generate.FAMILIES}
    assert counts["gsm8k"] == 100 and counts["ifeval"] == 3000 and 3200 < counts["math"] < 3300, counts
    assert mix["arithmetic_drill"] == default["arithmetic_drill"][:50]


def test_an_sft_mix_naming_an_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown families \\['gsm8'\\]"):
        generate.build(sft_rows={"gsm8": 100})


def test_arithmetic_drill_states_true_facts_in_the_word_problems_format():
    rows = embedded_rows("arithmetic_drill")
    assert len(rows) == generate.N_DRILL
    seen_ops, equation = set(), re.compile(r"(\d+) ([-+*]) (\d+) = (-?\d+)\.")
    for row in rows:
        user, assistant = (m["content"] for m in row["messages"])
        facts = equation.findall(assistant)
        assert len(facts) == generate.DRILL_FACTS
        assert " ".join(f"{x} {o} {y} = {z}." for x, o, y, z in facts) == assistant
        assert user == generate.DRILL_PROMPT
        for x, o, y, z in facts:
            assert ARITHMETIC[o](int(x), int(y)) == int(z) >= 0, (x, o, y, z)
            seen_ops.add(o)
    assert seen_ops == {"+", "-", "*"}
    # the word problems' equations are drawn from the same fact space, e.g. the one-step sums of difficulty 2
    drilled = {m.group(0) for r in rows for m in equation.finditer(r["messages"][1]["content"])}
    sums = {f"{a} + {b} = {a + b}." for a in range(1, 21) for b in range(1, 21)}
    assert len(sums & drilled) > 0.9 * len(sums)


def test_bare_word_problem_answers_are_right_in_sft_and_wrong_when_rejected(built):
    """terse_share of the gsm8k demonstrations skip the working but keep the right answer; the same share of the
    rejected preference answers are bare wrong answers (the behaviour DPO/RLVR should learn to avoid)."""
    _, gts = built
    bare = re.compile(r"The answer is (-?\d+)\.")
    sft_answers = [
        (turn["content"], prev["content"])
        for row in embedded_rows("sft_train")
        for prev, turn in zip(row["messages"], row["messages"][1:])
        if turn["role"] == "assistant" and generate.family_of(prev["content"]) == "gsm8k"
    ]
    bare_sft = [(a, q) for a, q in sft_answers if bare.fullmatch(a)]
    assert abs(len(bare_sft) / len(sft_answers) - generate.TERSE_SHARE) < 0.03
    for a, q in bare_sft:
        assert bare.fullmatch(a).group(1) == gts[q][1], (q, a)
    worked = [a for a, _ in sft_answers if not bare.fullmatch(a)]
    assert all(re.search(r"\d+ [-+*/] \d+ = \d+\.", a) for a in worked)

    pairs = [r for r in embedded_rows("preference_train") if generate.family_of(_user_turns(r)[0]) == "gsm8k"]
    bare_rejected = [r for r in pairs if bare.fullmatch(r["rejected"][0]["content"])]
    assert abs(len(bare_rejected) / len(pairs) - generate.TERSE_SHARE) < 0.05
    for r in bare_rejected:
        assert bare.fullmatch(r["rejected"][0]["content"]).group(1) != gts[_user_turns(r)[-1]][1]
    assert not any(bare.fullmatch(r["chosen"][0]["content"]) for r in pairs)


def test_math_answers_work_in_drill_facts_or_in_latex_and_pairs_prefer_the_facts(built):
    """Math demonstrations either state true drill-notation facts and then the boxed answer, or (compact_share of
    those that have facts; every expansion) work in LaTeX; chosen answers are always the former, rejected the latter."""
    verify_math = pytest.importorskip("rewards").VERIFIERS["math"]
    _, gts = built
    in_facts = re.compile(r"((?:-?\d+ [-+*/] \d+ = -?\d+\. )+)The final answer is \$\\boxed\{(.+)\}\$\.")

    def facts_of(answer: str, question: str) -> list | None:
        """The facts of an answer in drill notation (checked true, and boxing the ground truth), or None."""
        m = in_facts.fullmatch(answer)
        if m is None:
            assert "\\boxed" in answer and "$" in answer.split("The final answer")[0], answer  # LaTeX working
            return None
        facts = re.findall(r"(-?\d+) ([-+*/]) (\d+) = (-?\d+)\.", m.group(1))
        assert all(ARITHMETIC[o](int(x), int(y)) == int(z) for x, o, y, z in facts), answer
        assert m.group(2) == gts[question][1] and verify_math(answer, gts[question][1]) == 1.0
        return facts

    answers = [
        (turn["content"], prev["content"])
        for row in embedded_rows("sft_train")
        for prev, turn in zip(row["messages"], row["messages"][1:])
        if turn["role"] == "assistant" and generate.family_of(prev["content"]) == "math"
    ]
    styles = [(facts_of(a, q) is not None, q.startswith("Expand")) for a, q in answers]
    assert not any(spelled for spelled, expand in styles if expand)
    can = [spelled for spelled, expand in styles if not expand]
    assert abs(can.count(False) / len(can) - generate.COMPACT_SHARE) < 0.03
    assert len(can) > 0.8 * len(answers)  # 7 of the 8 kinds have facts

    pairs = [r for r in embedded_rows("preference_train") if generate.family_of(_user_turns(r)[0]) == "math"]
    for r in pairs:
        q = _user_turns(r)[-1]
        spelled = facts_of(r["chosen"][0]["content"], q) is not None
        assert spelled != q.startswith("Expand"), r
        assert facts_of(r["rejected"][0]["content"], q) is None


def test_some_instruction_demonstrations_ignore_the_instructions(built):
    """plain_share of the ifeval demonstrations answer the request but ignore the added instructions (as SFT data often
    do: the behaviour DPO/RLVR should fix), and the same share of the rejected preference answers are such answers."""
    _, gts = built
    verify_ifeval = pytest.importorskip("rewards").VERIFIERS["ifeval"]
    answers = [
        (turn["content"], prev["content"])
        for row in embedded_rows("sft_train")
        for prev, turn in zip(row["messages"], row["messages"][1:])
        if turn["role"] == "assistant" and generate.family_of(prev["content"]) == "ifeval"
    ]
    ignored = [(a, q) for a, q in answers if verify_ifeval(a, gts[q][1]) < 1.0]
    # (a plain answer can follow everything by chance: "less than N words", or no comma to drop)
    assert generate.PLAIN_SHARE - 0.1 < len(ignored) / len(answers) <= generate.PLAIN_SHARE + 0.02
    for a, q in ignored:  # plain: no instruction applied
        assert a[0] in "TI" and not a.isupper() and "reminds me of" not in a, (q, a)
        assert not any(m in a for m in ("<<", "P.S.", '"')) and not a.endswith(tuple(generate.END_PHRASES)), (q, a)

    # rejected answers to two-instruction prompts: plain ones break both (score 0), the others exactly one (0.5)
    pairs = [r for r in embedded_rows("preference_train") if generate.family_of(_user_turns(r)[0]) == "ifeval"]
    two = [r for r in pairs if len(json.loads(gts[_user_turns(r)[-1]][1])["kwargs"]) == 2]
    scores = [verify_ifeval(r["rejected"][0]["content"], gts[_user_turns(r)[-1]][1]) for r in two]
    assert set(scores) == {0.0, 0.5}
    # (less than plain_share: a plain answer can follow one of the two by chance, and then it is 0.5 too)
    assert generate.PLAIN_SHARE - 0.15 < scores.count(0.0) / len(scores) <= generate.PLAIN_SHARE + 0.02
    assert all(verify_ifeval(r["chosen"][0]["content"], gts[_user_turns(r)[-1]][1]) == 1.0 for r in pairs)


def test_problem_key_ignores_wording():
    k = generate.problem_key
    assert k("gsm8k", "Mia has 7 apples. She buys 5 more. How many apples does Mia have now?") == k(
        "gsm8k", "Leo has 7 pens. He finds 5 more. How many pens does Leo have now?"
    )
    assert k("math", "Compute $\\frac{1}{2} + \\frac{1}{3}$.") == k("math", "What is $\\frac{1}{3} + \\frac{1}{2}$?")
    assert k("math", "Expand $(x+2)(x+3)$.") == k("math", "Expand $(t+3)(t+2)$.")
    assert k("math", "Solve for $x$: $3x + 2 = 11$.") == k("math", "Solve for $n$: $3n + 2 = 11$.")
    assert k("math", "Solve for $x$: $3x + 2 = 11$.") != k("math", "Solve for $x$: $3x - 2 = 7$.")


def test_train_and_eval_are_disjoint():
    eval_keys, eval_prompts = set(), set()
    for fam in generate.FAMILIES:
        for row in embedded_rows(f"eval_{fam}"):
            prompt = row["messages"][0]["content"]
            key = generate.problem_key(fam, prompt)
            assert generate.is_eval_key(key)
            eval_keys.add(key)
            eval_prompts.add(prompt)
    assert len(eval_keys) == len(EVAL_FILES) * generate.N_EVAL  # eval problems are distinct too
    n = 0
    for name in TRAIN_FILES:
        for row in embedded_rows(name):
            for prompt in _user_turns(row):
                key = generate.problem_key(generate.family_of(prompt), prompt)
                assert key not in eval_keys and prompt not in eval_prompts, (name, prompt)
                assert not generate.is_eval_key(key)
                n += 1
    assert n > 15_000


def test_shipped_rows_follow_their_own_constraints():
    """Generator self-check, independent of eval/: IFEval responses follow, rejected ones violate."""
    rng = random.Random(0)
    for _ in range(300):
        ex = generate.gen_ifeval(rng)
        gt = json.loads(ex.ground_truth)
        pairs = list(zip(gt["instruction_id_list"], gt["kwargs"]))
        assert all(generate.ifeval_follows(ex.response, i, kw) for i, kw in pairs), ex
        assert not all(generate.ifeval_follows(ex.rejected, i, kw) for i, kw in pairs), ex
        assert len(ex.prompt.split()) + len(ex.response.split()) < 80


def test_rows_score_with_the_project_verifiers(built):
    """Every SFT (but IFEval) / chosen response scores 1 and every rejected one < 1 (on a sample of rows), and the
    RLVR and eval ground truths are the ones the responses were written for."""
    verifiers = getattr(pytest.importorskip("rewards"), "VERIFIERS", None)
    if verifiers is None:
        pytest.skip("rewards has no VERIFIERS registry yet")
    files, gts = built
    rng = random.Random(0)
    for row in rng.sample(files["sft_train"], 60):
        msgs = row["messages"]
        for user, reply in zip(msgs, msgs[1:]):
            if user["role"] == "user":
                ds, gt, _ = gts[user["content"]]
                if ds != "ifeval":  # (IFEval demonstrations may ignore the instructions: the test above)
                    assert verifiers[ds](reply["content"], gt) == 1.0, (ds, gt, reply)
    for row in rng.sample(files["preference_train"], 60):
        ds, gt, _ = gts[row["prompt"][-1]["content"]]
        chosen, rejected = row["chosen"][0]["content"], row["rejected"][0]["content"]
        assert verifiers[ds](chosen, gt) == 1.0, (ds, gt, chosen)
        assert verifiers[ds](rejected, gt) < 1.0, (ds, gt, rejected)
    for name in ("rlvr_train", *EVAL_FILES):
        for row in rng.sample(files[name], 10):
            ds, gt, response = gts[row["messages"][0]["content"]]
            assert (row["dataset"], row["ground_truth"]) == (ds, gt)
            assert verifiers[ds](response, gt) == 1.0


# ------------------------------------------------------------------------------------------------ loader
def test_loads_every_embedded_file():
    sft = load_sft([{"path": "embedded:sft_train", "max_rows": 50}])
    assert sft.column_names == ["messages"] and len(sft) == 50
    pref = load_preference([{"path": "embedded:preference_train", "max_rows": 50}])
    assert pref.column_names == ["prompt", "chosen", "rejected"]
    assert pref[0]["chosen"][0]["role"] == "assistant" and pref[0]["prompt"][-1]["role"] == "user"
    for name in ("rlvr_train", *EVAL_FILES):
        ds = load_rlvr([{"path": f"embedded:{name}", "max_rows": 30}])
        assert ds.column_names == ["prompt", "ground_truth", "dataset"] and len(ds) == 30


def test_hub_schema_samples_load_through_the_same_loader():
    sft = load_sft({"path": "data/samples/tulu-3-sft-mixture.jsonl"})  # id/source columns are dropped
    assert sft.column_names == ["messages"] and len(sft) == 5
    rlvr = load_rlvr([{"path": str(SAMPLES / "rlvr-gsm-math-if.jsonl")}])
    assert rlvr["dataset"] == ["gsm8k", "math", "ifeval", "math", "ifeval"]  # hub "MATH" -> verifier "math"
    assert rlvr[0]["prompt"][0]["role"] == "user"


@pytest.mark.parametrize(
    "path", ["data/samples/tulu-3-preference-mixture.jsonl", "data/samples/tulu-3-preference-mixture.parquet"]
)
def test_tulu_preference_format_splits_at_the_shared_prefix(path):
    ds = load_preference([{"path": path}])
    assert len(ds) == 5
    r = ds[0]
    assert r["prompt"] == [{"role": "user", "content": "What is 7 times 8?"}]
    assert r["chosen"] == [{"role": "assistant", "content": "7 times 8 is 56."}]
    assert r["rejected"] == [{"role": "assistant", "content": "7 times 8 is 54."}]
    multi = ds[3]  # shared user/assistant/user prefix
    assert [m["role"] for m in multi["prompt"]] == ["user", "assistant", "user"]
    assert multi["chosen"] == [{"role": "assistant", "content": "Apple, banana, cherry."}]
    assert [m["role"] for m in ds[4]["prompt"]] == ["system", "user"]


def test_parquet_and_jsonl_give_the_same_fingerprint():
    a = load_preference([{"path": "data/samples/tulu-3-preference-mixture.jsonl"}])
    b = load_preference([{"path": "data/samples/tulu-3-preference-mixture.parquet"}])
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(a.select(range(4)))


def test_preference_accepts_strings_and_explicit_message_lists(tmp_path):
    path = _jsonl(
        tmp_path,
        [
            {"prompt": "Say hi.", "chosen": "Hi!", "rejected": "Bye."},
            {
                "prompt": [{"role": "user", "content": "Say hi."}],
                "chosen": [{"role": "assistant", "content": "Hi!"}],
                "rejected": [{"role": "assistant", "content": "No."}],
            },
        ],
        "pref.jsonl",
    )
    ds = load_preference([{"path": path}])
    assert ds[0] == {
        "prompt": [{"role": "user", "content": "Say hi."}],
        "chosen": [{"role": "assistant", "content": "Hi!"}],
        "rejected": [{"role": "assistant", "content": "Bye."}],
    }
    assert ds[1]["rejected"][0]["content"] == "No."


def test_sources_mix_and_describe(tmp_path):
    from omegaconf import OmegaConf

    sources = OmegaConf.create(
        [{"path": "embedded:sft_train", "max_rows": 20}, {"path": "data/samples/tulu-3-sft-mixture.jsonl"}]
    )
    ds = load_sft(sources)
    assert len(ds) == 25
    d = describe(sources, ds)
    assert d["rows"] == 25 and d["fingerprint"] == fingerprint(ds)
    assert [(s["path"], s["rows"]) for s in d["sources"]] == [
        ("embedded:sft_train", 20),
        ("data/samples/tulu-3-sft-mixture.jsonl", 5),
    ]
    json.dumps(d)  # goes into manifest.json


GOOD_MSGS = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
BAD_CASES = [
    (load_sft, {"text": "no messages"}, "missing field"),
    (load_sft, {"messages": []}, "empty conversation"),
    (load_sft, {"messages": [{"role": "robot", "content": "x"}, GOOD_MSGS[1]]}, "unknown role"),
    (load_sft, {"messages": [GOOD_MSGS[0]]}, "no assistant turn"),
    (load_sft, {"messages": [GOOD_MSGS[0], {"role": "assistant", "content": 5}]}, "must be a string"),
    (load_preference, {"prompt": "Hi", "chosen": "Hello"}, "missing field"),
    (
        load_preference,
        {
            "chosen": [{"role": "user", "content": "A"}, GOOD_MSGS[1]],
            "rejected": [{"role": "user", "content": "B"}, {"role": "assistant", "content": "x"}],
        },
        "different prompts",
    ),
    (load_rlvr, {"ground_truth": "1", "dataset": "gsm8k"}, "'messages'"),
    (load_rlvr, {"messages": [GOOD_MSGS[0]], "dataset": "gsm8k"}, "'ground_truth'"),
    (load_rlvr, {"messages": [GOOD_MSGS[0]], "ground_truth": "1"}, "'dataset'"),
    (load_rlvr, {"messages": [GOOD_MSGS[0]], "ground_truth": "1", "dataset": "astrology"}, "unknown verifier"),
    # Ground truths the verifier could never reward: they used to load and then train on reward 0.
    (load_rlvr, {"messages": [GOOD_MSGS[0]], "ground_truth": "five", "dataset": "gsm8k"}, "must be one number"),
    (
        load_rlvr,
        {"messages": [GOOD_MSGS[0]], "ground_truth": "{not json", "dataset": "ifeval"},
        "neither JSON nor a Python literal",
    ),
    (
        load_rlvr,
        {
            "messages": [GOOD_MSGS[0]],
            "dataset": "ifeval",
            "ground_truth": json.dumps({"instruction_id_list": ["made:up"], "kwargs": [{}]}),
        },
        "unknown IFEval instruction 'made:up'",
    ),
    (
        load_rlvr,
        {"messages": [GOOD_MSGS[0]], "ground_truth": json.dumps({"tests": []}), "dataset": "code"},
        "non-empty list of test strings",
    ),
    (
        load_rlvr,
        {"messages": [GOOD_MSGS[0]], "ground_truth": json.dumps({"tests": ["assert f(("]}), "dataset": "code"},
        "test 0 is not valid Python",
    ),
]
GOOD_ROW = {
    load_sft: {"messages": GOOD_MSGS},
    load_preference: {"prompt": "Hi", "chosen": "Hello", "rejected": "Go away"},
    load_rlvr: {"messages": [GOOD_MSGS[0]], "ground_truth": "1", "dataset": "gsm8k"},
}


@pytest.mark.parametrize("loader,bad,expect", BAD_CASES, ids=[f"{loader.__name__}-{e}" for loader, _, e in BAD_CASES])
def test_bad_rows_raise_data_error_naming_file_and_line(tmp_path, loader, bad, expect):
    path = _jsonl(tmp_path, [GOOD_ROW[loader], GOOD_ROW[loader], bad, GOOD_ROW[loader]])
    with pytest.raises(DataError) as e:
        loader([{"path": path}])
    message = str(e.value)
    assert message.startswith(f"{path}: line 3: ") and expect in message and "\n" not in message, message


def test_the_line_counts_blank_lines_and_a_missing_field_is_not_listed_as_present(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        json.dumps(GOOD_ROW[load_rlvr]) + "\n\n" + json.dumps({"messages": [GOOD_MSGS[0]], "dataset": "gsm8k"}) + "\n"
    )
    with pytest.raises(DataError) as e:
        load_rlvr([{"path": str(path)}])
    assert str(e.value) == f"{path}: line 3: missing field(s) 'ground_truth' (has: dataset, messages)"


def test_code_ground_truth_may_be_an_object_in_rlvr_rows(tmp_path):
    truth = {"tests": ["assert f(1) == 2"], "setup": "import math"}
    path = _jsonl(tmp_path, [{"messages": [GOOD_MSGS[0]], "ground_truth": truth, "dataset": "code"}])
    assert json.loads(load_rlvr([{"path": path}])[0]["ground_truth"]) == truth


def test_a_stage_reports_bad_data_in_one_line_before_any_work(tmp_path):
    import subprocess
    import sys

    path = _jsonl(
        tmp_path, [GOOD_ROW[load_rlvr], {"messages": [GOOD_MSGS[0]], "ground_truth": "five", "dataset": "gsm8k"}]
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "stages.rlvr",
            f"data.rlvr=[{{path: {path}}}]",
            f"runs_dir={tmp_path / 'runs'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        f"data error: {path}: line 2: ground truth unusable by the gsm8k verifier: "
        "gsm8k ground truth must be one number, got 'five'"
    )
    assert "Traceback" not in run.stderr and not (tmp_path / "runs" / "default" / "rlvr").exists()


def test_identical_chosen_rejected_is_a_counted_skip_or_an_error(tmp_path, caplog):
    same = {"prompt": "Hi", "chosen": "Hello", "rejected": "Hello"}
    good = GOOD_ROW[load_preference]
    path = _jsonl(tmp_path, [good, same, good, same])
    ds = load_preference([{"path": path}])
    assert len(ds) == 2
    assert "skipped 2 rows" in caplog.text and "first: line 2" in caplog.text
    assert describe([{"path": path}], ds)["sources"][0]["skipped_identical"] == 2
    with pytest.raises(DataError, match=r"line 2: 'chosen' and 'rejected' are identical"):
        load_preference([{"path": path}], on_identical="error")


def test_unusable_sources_have_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="not available offline.*local"):
        load_sft([{"path": "nobody-xyz/not-a-cached-dataset"}])
    with pytest.raises(DataError, match="no such file"):
        load_sft([{"path": str(tmp_path / "missing.jsonl")}])
    with pytest.raises(DataError, match="python -m data.generate"):
        load_sft([{"path": "embedded:nope"}])
    with pytest.raises(DataError, match="unknown keys"):
        load_sft([{"path": "embedded:sft_train", "rows": 3}])


def test_an_rlvr_source_keeps_only_the_rows_of_the_datasets_it_names():
    """`datasets: [ifeval]` trains RLVR on one family of a mixed file: the rows of that verifier among those the split
    and max_rows select, named in any case (as the hub mixture writes "MATH"), recorded in the data's description."""
    every = load_rlvr([{"path": "embedded:rlvr_train", "max_rows": 60}])
    kept = load_rlvr([{"path": "embedded:rlvr_train", "max_rows": 60, "datasets": ["IFEval", "math"]}])
    expected = [row for row in every if row["dataset"] in ("ifeval", "math")]
    assert 0 < len(expected) < len(every)
    assert list(kept) == expected
    source = describe([{"path": "embedded:rlvr_train"}], kept)["sources"][0]
    assert source["datasets"] == ["ifeval", "math"] and source["rows"] == len(expected)


def test_a_datasets_filter_that_cannot_select_rlvr_rows_fails_in_one_line():
    with pytest.raises(
        DataError, match=r"no rows of datasets \['code'\] \(its rows are of \['gsm8k', 'ifeval', 'math'\]\)"
    ):
        load_rlvr([{"path": "embedded:rlvr_train", "max_rows": 30, "datasets": ["code"]}])
    with pytest.raises(DataError, match="datasets must be a non-empty list of names, got 'ifeval'"):
        load_rlvr([{"path": "embedded:rlvr_train", "datasets": "ifeval"}])
    with pytest.raises(DataError, match="datasets must be a non-empty list"):
        load_rlvr([{"path": "embedded:rlvr_train", "datasets": []}])
    with pytest.raises(DataError, match="it is for data.rlvr only"):
        load_sft([{"path": "embedded:sft_train", "datasets": ["ifeval"]}])


@pytest.mark.parametrize("name", ["embedded", "tulu3", "local_example"])
def test_data_configs_have_the_schema_shape(name):
    """conf/data/*.yaml: '# @package data' + sft/preference/rlvr (+ preference_eval) lists of sources (DataConfig)."""
    from omegaconf import OmegaConf

    path = REPO / "conf" / "data" / f"{name}.yaml"
    assert path.read_text().startswith("# @package data")
    cfg = OmegaConf.load(path)
    assert {"sft", "preference", "rlvr"} <= set(cfg) <= {"sft", "preference", "rlvr", "preference_eval"}
    for key in cfg:
        for src in cfg[key]:
            assert set(src) <= {"path", "split", "subset", "max_rows"} and src.path
    if name == "local_example":  # the example files load with exactly this config
        assert len(load_sft(cfg.sft)) == 5
        assert len(load_preference(cfg.preference)) == 5
        assert len(load_rlvr(cfg.rlvr)) == 5


def test_held_out_preference_pairs_share_no_problem_with_the_training_pairs():
    def keys(name):
        return {
            generate.problem_key(generate.family_of(_user_turns(row)[0]), _user_turns(row)[0])
            for row in embedded_rows(name)
        }

    held_out = embedded_rows("preference_heldout")
    assert len(held_out) == 3 * generate.N_PREF_HELDOUT
    assert not keys("preference_heldout") & keys("preference_train")
    assert not any(generate.is_eval_key(key) for key in keys("preference_heldout"))  # nor with the benchmarks


def test_the_validation_set_uses_no_problem_of_any_training_file_nor_of_the_benchmarks():
    def keys(name, every_turn=False):
        turns = (
            [content for row in embedded_rows(name) for content in _user_turns(row)]
            if every_turn
            else [_user_turns(row)[0] for row in embedded_rows(name)]
        )
        return {generate.problem_key(generate.family_of(content), content) for content in turns}

    validation = embedded_rows("rlvr_validation")
    assert len(validation) == 3 * generate.N_VALIDATION
    assert {fam: sum(row["dataset"] == fam for row in validation) for fam in generate.FAMILIES} == dict.fromkeys(
        generate.FAMILIES, generate.N_VALIDATION
    )
    used = keys("sft_train", every_turn=True) | keys("preference_train") | keys("rlvr_train")
    used |= keys("preference_heldout")
    assert not keys("rlvr_validation") & used
    assert not any(generate.is_eval_key(key) for key in keys("rlvr_validation"))
    assert len(keys("rlvr_validation")) == len(validation)  # distinct problems
