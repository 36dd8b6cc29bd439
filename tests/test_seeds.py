"""Seeds as an axis: `seeds=[...]` runs a command once per seed, the seeds report says what holds across them, and
`make compare` tests two seed groups against each other with a paired test over seeds and prompts."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO_ROOT, compose

from eval import compare, report, seeds
from runtime import cli, config, files

BENCHMARKS = ("gsm8k", "math")


def fake_seed_run(
    run_dir: Path, accuracy: dict[str, dict[str, float]], seed: int, n: int = 200, suffix: str = ""
) -> None:
    """A run's eval results as the eval suite leaves them: eval/<stage><suffix>.json and the per-prompt generations,
    each prompt right with the stage's accuracy for that benchmark (drawn with the seed)."""
    rng = random.Random(seed)
    for stage, per_benchmark in accuracy.items():
        rows, benchmarks = [], {}
        for bench in BENCHMARKS:
            scores = [float(rng.random() < per_benchmark[bench]) for _ in range(n)]
            rows += [{"benchmark": bench, "id": i, "sample": 0, "score": s} for i, s in enumerate(scores)]
            benchmarks[bench] = {"score": sum(scores) / n, "n": n, "stderr": 0.03}
        average = sum(b["score"] for b in benchmarks.values()) / len(benchmarks)
        result = {"stage": stage, "model": "x", "benchmarks": benchmarks, "average": average}
        result["generation"] = {"temperature": 1.0 if suffix else 0.0, "num_samples": 4 if suffix else 1}
        files.write_json(run_dir / "eval" / f"{stage}{suffix}.json", result)
        files.write_jsonl(run_dir / "eval" / f"{stage}{suffix}.generations.jsonl", rows)


def test_a_clear_gain_is_significant_and_no_change_is_not():
    rng = random.Random(0)
    same = [("gsm8k", float(rng.random() < 0.5), float(rng.random() < 0.5)) for _ in range(600)]
    gain = [("gsm8k", float(rng.random() < 0.4), float(rng.random() < 0.6)) for _ in range(600)]
    assert seeds.paired_test(same)["p"] > 0.05
    result = seeds.paired_test(gain)
    assert result["p"] < 0.001
    assert result["low"] < result["diff"] < result["high"]
    assert result["diff"] == pytest.approx(sum(b - a for _, a, b in gain) / len(gain))


@pytest.mark.parametrize(
    "changes, p",
    [
        ([0.01, 0.02, 0.03], 0.25),  # every seed up: the best three seeds can do
        ([0.05, -0.01, 0.02], 0.5),  # |sum| >= 0.06 for 4 of the 8 sign patterns
        ([0.0, 0.0, 0.0], 1.0),
        ([0.01] * 5, 2 / 32),
    ],
)
def test_the_seed_level_test_is_exact_over_sign_patterns_and_three_seeds_cannot_go_below_a_quarter(changes, p):
    assert seeds.seed_level_p(changes) == pytest.approx(p)


def test_a_rounding_sized_change_can_pass_the_prompt_test_and_not_the_seed_test(tmp_path):
    """Each seed's change is a fresh draw (here +-6 points on gsm8k, mean +2): over 200 prompts a seed, the prompt-level
    test calls it significant; the seed-level test, whose unit is the seed, does not."""
    for group, shifts in (("a", (0.0, 0.0, 0.0)), ("b", (0.08, -0.04, 0.02))):
        for seed, shift in zip((1, 2, 3), shifts):
            fake_seed_run(tmp_path / f"{group}-s{seed}", {"rlvr": {"gsm8k": 0.5 + shift, "math": 0.3}}, seed)
        seeds.write_report(compose([f"runs_dir={tmp_path}", f"run_name={group}", "seeds=[1,2,3]"]))
    text = seeds.compare_groups({name: seeds.load_group(tmp_path, name) for name in ("a-seeds", "b-seeds")})
    assert seeds.SEED_TEST_NAME in text
    gsm8k = next(line for line in text.splitlines() if line.startswith("| gsm8k | +"))
    cells = [cell.strip() for cell in gsm8k.split("|")]
    assert float(cells[4].rstrip(" *")) < 0.05 < float(cells[5])


def test_the_paired_test_weighs_each_benchmark_equally_as_the_average_does():
    # 100 gsm8k prompts gain 1 point each, 10 math prompts lose 1: the average changes by (1 - 1) / 2 = 0
    pairs = [("gsm8k", 0.0, 1.0)] * 100 + [("math", 1.0, 0.0)] * 10
    assert seeds.paired_test(pairs)["diff"] == pytest.approx(0.0)


def test_pairing_finds_a_gain_that_comparing_the_two_means_alone_misses():
    # Half the prompts easy (both right), half hard: B also gets ~10% of the hard ones. The two scores differ by
    # ~5 points, under two standard errors of an unpaired comparison; paired, every change is in the same direction.
    rng = random.Random(1)
    pairs = []
    for _ in range(400):
        easy = rng.random() < 0.5
        pairs.append(("gsm8k", float(easy), 1.0 if (easy or rng.random() < 0.1) else 0.0))
    a, b = (sum(p[k] for p in pairs) / len(pairs) for k in (1, 2))
    unpaired_se = (a * (1 - a) / len(pairs) + b * (1 - b) / len(pairs)) ** 0.5
    assert 0 < b - a < 2 * unpaired_se  # the naive comparison: not significant
    assert seeds.paired_test(pairs)["p"] < 0.01


def test_seeds_report_gives_mean_and_sd_across_seeds_and_tests_each_stage_against_the_one_before(tmp_path):
    accuracy = {
        "sft": {"gsm8k": 0.3, "math": 0.2},
        "dpo": {"gsm8k": 0.6, "math": 0.2},
    }
    for seed in (1, 2, 3):
        fake_seed_run(tmp_path / f"demo-s{seed}", accuracy, seed)
    cfg = compose([f"runs_dir={tmp_path}", "run_name=demo", "seeds=[1,2,3]"])
    md, png = seeds.write_report(cfg)
    assert md == tmp_path / "demo-seeds" / "report.md" and png.stat().st_size > 0
    text = md.read_text()
    gsm8k_sft = [json.loads((tmp_path / f"demo-s{s}" / "eval" / "sft.json").read_text()) for s in (1, 2, 3)]
    values = [100 * r["benchmarks"]["gsm8k"]["score"] for r in gsm8k_sft]
    mean, sd = sum(values) / 3, (sum((v - sum(values) / 3) ** 2 for v in values) / 2) ** 0.5
    assert f"| gsm8k | {mean:.1f} ± {sd:.1f} |" in text
    assert seeds.TEST_NAME in text
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.count("|") == 9}
    assert rows["gsm8k"].split("|")[4].strip().endswith("*")  # dpo's +30 points on gsm8k: significant
    assert "3/3" in rows["gsm8k"]
    assert not rows["math"].split("|")[4].strip().endswith("*")  # math did not change: not significant
    assert json.loads((tmp_path / "demo-seeds" / "seeds.json").read_text())["runs"] == ["demo-s1", "demo-s2", "demo-s3"]
    gained = lost = 0  # counted again from the generations files the report read
    for seed in (1, 2, 3):
        before, after = ({} for _ in range(2))
        for scores, stage in ((before, "sft"), (after, "dpo")):
            generations = tmp_path / f"demo-s{seed}" / "eval" / f"{stage}.generations.jsonl"
            for row in map(json.loads, generations.read_text().splitlines()):
                if row["benchmark"] == "gsm8k":
                    scores[row["id"]] = row["score"]
        gained += sum(before[i] < 1 <= after[i] for i in before)
        lost += sum(after[i] < 1 <= before[i] for i in before)
    assert rows["gsm8k"].split("|")[7].strip() == f"{gained} / {lost}" and gained > lost > 0


def test_a_comparison_counts_the_prompts_that_became_fully_right_and_those_that_stopped_being():
    pairs = [("gsm8k", 0.0, 1.0), ("gsm8k", 0.5, 1.0), ("ifeval", 1.0, 0.0), ("ifeval", 1.0, 0.5)]
    pairs += [("gsm8k", 1.0, 1.0), ("gsm8k", 0.0, 0.0), ("ifeval", 0.0, 0.5), ("ifeval", 0.5, 0.0)]
    assert seeds.fully_right_changes(pairs) == (2, 2)  # partial credit moving below 1 is neither
    assert seeds.fully_right_changes([(b, y, x) for b, x, y in pairs]) == (2, 2)
    assert seeds.fully_right_changes(pairs[:2]) == (2, 0)


def test_seeds_report_sets_sampled_pass1_beside_greedy_when_the_runs_have_it(tmp_path):
    greedy = {"sft": {"gsm8k": 0.5, "math": 0.2}, "dpo": {"gsm8k": 0.5, "math": 0.2}}  # greedy: no change
    sampled = {"sft": {"gsm8k": 0.3, "math": 0.1}, "dpo": {"gsm8k": 0.6, "math": 0.1}}  # sampled: +30 on gsm8k
    for seed in (1, 2, 3):
        fake_seed_run(tmp_path / f"demo-s{seed}", greedy, seed)
    cfg = compose([f"runs_dir={tmp_path}", "run_name=demo", "seeds=[1,2,3]"])
    assert "Sampled pass@1" not in seeds.write_report(cfg)[0].read_text()  # no sampled results: no section
    for seed in (1, 2, 3):
        fake_seed_run(tmp_path / f"demo-s{seed}", sampled, seed + 10, suffix=report.SAMPLED)
    greedy_part, sampled_part = seeds.write_report(cfg)[0].read_text().split("## Sampled pass@1")
    assert sampled_part.startswith(": 4 answers per prompt at temperature 1")

    def gsm8k_row(text):
        return next(line for line in text.splitlines() if line.startswith("| gsm8k |") and line.count("|") == 9)

    assert not gsm8k_row(greedy_part).split("|")[4].strip().endswith("*")
    assert gsm8k_row(sampled_part).split("|")[4].strip().endswith("*") and "3/3" in gsm8k_row(sampled_part)


def test_compare_tests_two_seed_groups_paired_over_seeds_and_prompts(tmp_path):
    for group, gain in (("a", 0.0), ("b", 0.25)):
        for seed in (1, 2):
            fake_seed_run(tmp_path / f"{group}-s{seed}", {"rlvr": {"gsm8k": 0.4 + gain, "math": 0.3}}, seed)
        seeds.write_report(compose([f"runs_dir={tmp_path}", f"run_name={group}", "seeds=[1,2]"]))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert compare.main(["a-seeds", "b-seeds", f"runs_dir={tmp_path}", "wandb=off"]) == 0
    text = printed.getvalue()
    assert "b-seeds against a-seeds, rlvr (seeds 1, 2" in text and seeds.TEST_NAME in text
    gsm8k = next(line for line in text.splitlines() if line.startswith("| gsm8k | +"))
    assert gsm8k.split("|")[4].strip().endswith("*") and "2/2" in gsm8k
    with pytest.raises(SystemExit, match="only seed groups"):
        compare.main(["a-seeds", "a-s1", f"runs_dir={tmp_path}", "wandb=off"])


def test_each_seed_is_a_run_of_its_own_whose_sections_follow_its_seed():
    cfg = compose(["run_name=demo", "seeds=[7,9]"])
    one = cli.seed_config(cfg, 9)
    assert (one.run_name, one.seed, one.sft.seed, one.rlvr.seed, list(one.seeds)) == ("demo-s9", 9, 9, 9, [])
    assert cfg.run_name == "demo" and cfg.seed == 42  # the group's config is untouched
    with pytest.raises(config.ConfigError, match="seeds=\\[7, 7\\]: a seed appears twice"):
        config.validate(compose(["seeds=[7,7]"]))


def test_the_command_line_runs_every_seed_then_writes_the_seeds_report(tmp_path):
    for seed in (3, 4):
        fake_seed_run(tmp_path / f"demo-s{seed}", {"sft": {"gsm8k": 0.3, "math": 0.2}}, seed)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    done = subprocess.run(
        [sys.executable, "-m", "eval.seeds", f"runs_dir={tmp_path}", "run_name=demo", "seeds=[3,4]", "logging=none"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "demo-s3" / "report.md").exists() and (tmp_path / "demo-s4" / "report.md").exists()
    assert "over 2 seeds (3, 4)" in (tmp_path / "demo-seeds" / "report.md").read_text()


def test_make_passes_seeds_as_one_hydra_list():
    printed = subprocess.run(
        ["make", "-n", "pipeline", "SEEDS=42 2  7"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    [line] = [line for line in printed.splitlines() if "stages.pipeline" in line]
    assert line.split()[-1] == "'seeds=[42,2,7]'"
