"""`make compare`: runs side by side from their run directories (and W&B summaries), and Hydra sweeps that make
one comparable run per sweep point."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import REPO_ROOT, compose

from eval import compare
from runtime import checkpoints, cli, files, layout, models, training

ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "WANDB_MODE": "disabled",
    "TOKENIZERS_PARALLELISM": "false",
}


def fake_run(
    runs_dir: Path,
    name: str,
    overrides: list[str],
    scores: dict[str, float],
    wall: float,
    stages: tuple[str, ...] = ("sft",),
    kernels: str | None = None,
) -> None:
    """A run directory as the stages and the eval suite leave it: manifests + eval/{base,sft}.json (n = 300)."""
    cfg = compose([f"runs_dir={runs_dir}", f"run_name={name}", *overrides])
    for stage in stages:
        options, args = training.trainer_args(cfg, stage)
        record = checkpoints.StageRecord(cfg, stage, options, args, parent=models.base_model_path(cfg), data_key="sft")
        manifest = {**record.manifest("complete"), "wall_time_s": wall}
        files.write_json(runs_dir / name / stage / "manifest.json", manifest)
    for stage, factor in (("base", 0.5), ("sft", 1.0)):
        benchmarks = {
            bench: {"score": score * factor, "n": 300, "stderr": (score * factor * (1 - score * factor) / 300) ** 0.5}
            for bench, score in scores.items()
        }
        result = {
            "model": "x",
            "stage": stage,
            "benchmarks": benchmarks,
            "average": sum(b["score"] for b in benchmarks.values()) / len(benchmarks),
            "wall_time_s": 3.0,
        }
        files.write_json(runs_dir / name / "eval" / f"{stage}.json", result)
    if kernels:
        for stage in stages:
            manifest = layout.read_manifest(runs_dir / name / stage)
            files.write_json(
                runs_dir / name / stage / "manifest.json",
                {**manifest, "environment": {**manifest["environment"], "cpu_capability": kernels}},
            )
    files.write_json(
        runs_dir / name / "eval" / "decontamination.json", {"benchmarks": {"gsm8k": {"contaminated": 2, "n": 300}}}
    )


def compare_rows(*args: str) -> dict[str, list[str]]:
    """`make compare ARGS...`'s table as {row label: cells}, from the compare module's own command-line entry."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert compare.main([*args, "wandb=off"]) == 0
    return {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
        for line in printed.getvalue().splitlines()
        if line.startswith("| ")
    }


def test_compare_two_runs_shows_only_differences_then_scores_with_errors_and_times(tmp_path):
    # both runs name their CPU's kernels, so the difference does not hang on which CPU runs the test
    fake_run(tmp_path, "lr_low", ["sft.learning_rate=1e-3"], {"gsm8k": 0.2, "math": 0.4}, wall=61.0, kernels="AVX512")
    fake_run(
        tmp_path,
        "lr_high",
        ["sft.learning_rate=3e-3", "seed=7", "model.tiny.init_seed=7"],
        {"gsm8k": 0.3, "math": 0.41},
        wall=59.5,
        kernels="AVX2",
    )
    rows = compare_rows("lr_low", "lr_high", f"runs_dir={tmp_path}")
    assert rows[""] == ["lr_low", "lr_high"]
    assert rows["`sft.learning_rate`"] == ["0.001", "0.003"]
    assert rows["`seed`"] == ["42", "7"]
    assert rows["`sft.seed`"] == ["42", "7"]  # the top-level seed flowed into the section: what the trainer ran
    differences = [label for label in rows if label.startswith("`")]
    # init_seed 7 builds another random base model: SFT started from other weights, a difference of its own
    assert sorted(differences) == [
        "`environment.cpu_capability`",
        "`model.tiny.init_seed`",
        "`seed`",
        "`sft.learning_rate`",
        "`sft.seed`",
        "`sft` trained from (parent id)",
    ]
    # scores in points ± s.e.; * where the gap exceeds the combined standard error (gsm8k: 10 points, s.e. ~3.6)
    assert rows["eval sft/gsm8k"] == ["20.0 ± 2.3", "30.0 ± 2.6 *"]
    assert rows["eval sft/math"] == ["40.0 ± 2.8", "41.0 ± 2.8"]
    assert rows["eval base/math"] == ["20.0 ± 2.3", "20.5 ± 2.3"]
    assert rows["wall time (s) sft"] == ["61", "59.5"]
    assert (tmp_path / "compare.md").read_text().count("eval sft/gsm8k") == 1
    labels = list(rows)
    assert labels.index("eval base/gsm8k") < labels.index("eval sft/gsm8k")


def test_a_stage_only_one_run_trained_is_one_row_not_one_per_key(tmp_path):
    fake_run(tmp_path, "short", [], {"gsm8k": 0.2}, wall=10.0)
    fake_run(tmp_path, "long", [], {"gsm8k": 0.2}, wall=10.0, stages=("sft", "dpo"))
    rows = compare_rows("short", "long", f"runs_dir={tmp_path}", f"plot={tmp_path / 'compare.png'}")
    differences = [label for label in rows if label.startswith(("`", "stage"))]
    assert differences == ["stage `dpo`"] and rows["stage `dpo`"] == ["—", "trained"]
    assert (tmp_path / "compare.png").stat().st_size > 1000


def test_unknown_run_names_are_named_and_options_are_listed(tmp_path):
    fake_run(tmp_path, "a", [], {"gsm8k": 0.2}, wall=10.0)
    with pytest.raises(SystemExit) as caught:
        compare.main(["a", "runs_dri=x", f"runs_dir={tmp_path}", "wandb=off"])
    assert "no run named 'runs_dri=x'" in str(caught.value) and "runs_dir" in str(caught.value)


def test_runs_known_only_to_wandb_are_read_from_summaries():
    def api_run(group, job_type, summary, config=None):
        return SimpleNamespace(group=group, job_type=job_type, summary=summary, config=config or {})

    runs = compare.wandb_runs(
        [
            api_run(
                "remote",
                "sft",
                {"_runtime": 3600},
                {
                    "sft": {"learning_rate": 5e-6, "output_dir": "runs/remote/work/sft"},
                    "run_name": "remote",
                    "parent_id": "abc",
                },
            ),
            api_run(
                "remote",
                "eval-sft",
                {"eval/gsm8k": 0.71, "eval/gsm8k/stderr": 0.02, "eval/gsm8k/pass@1": 0.71, "eval/average": 0.6},
            ),
            api_run("other", "eval-sft", {"eval/gsm8k": 0.1}),
        ],
        names=["remote"],
    )
    assert list(runs) == ["remote"]
    assert runs["remote"]["eval"] == {
        "sft/gsm8k": {"score": 0.71, "stderr": 0.02},
        "sft/average": {"score": 0.6, "stderr": None},
    }
    assert runs["remote"]["config"] == {"sft.learning_rate": 5e-6}
    assert runs["remote"]["stages"] == {"sft": "abc"}
    assert runs["remote"]["time"] == {"sft": 3600}


@pytest.mark.slow
def test_the_documented_sweep_makes_one_run_per_point_and_compare_shows_what_differs(tmp_path):
    """docs/stages.md: `python -m stages.dpo -m dpo.beta=0.1,0.5,5`, then `make compare`: one run per
    point, trained from the original run's SFT checkpoint, named after the swept value (a name Hydra accepts as a
    value, so `make eval` can score it), and compare shows what differs."""
    quick = [
        "logging=none",
        "sft.max_steps=2",
        "sft.per_device_train_batch_size=4",
        "data.sft.0.max_rows=32",
        "dpo.max_steps=1",
        "dpo.per_device_train_batch_size=4",
        "data.preference.0.max_rows=8",
    ]
    first = subprocess.run(
        [sys.executable, "-m", "stages.sft", f"runs_dir={tmp_path}", "run_name=main", *quick],
        cwd=REPO_ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    sweep = subprocess.run(
        [
            sys.executable,
            "-m",
            "stages.dpo",
            "-m",
            f"runs_dir={tmp_path}",
            "run_name=main",
            *quick,
            "dpo.beta=0.1,0.5",
        ],
        cwd=REPO_ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert sweep.returncode == 0, sweep.stdout[-2000:] + sweep.stderr[-3000:]
    names = ["main-dpo.beta:0.1", "main-dpo.beta:0.5"]
    sft_id = layout.read_manifest(tmp_path / "main" / "sft")["id"]
    for name, beta in zip(names, (0.1, 0.5)):
        manifest = layout.read_manifest(tmp_path / name / "dpo")
        assert manifest["status"] == "complete" and manifest["parent_id"] == sft_id
        assert manifest["config"]["run_name"] == name and manifest["config"]["dpo"]["beta"] == beta

    rows = compare_rows("main", *names, f"runs_dir={tmp_path}")
    assert rows[""] == ["main", *names]
    differences = {label: values for label, values in rows.items() if label.startswith(("`", "stage"))}
    assert differences == {
        "stage `sft`": ["trained", "—", "—"],
        "stage `dpo`": ["—", "trained", "trained"],
        "`dpo.beta`": ["—", "0.1", "0.5"],
    }, differences


def test_sweep_jobs_keep_the_original_runs_parents(tmp_path, monkeypatch):
    """A sweep over a later stage trains from the original run's checkpoint, not the (empty) sweep run's."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    cfg = compose([f"runs_dir={tmp_path}", "run_name=main", "dpo.beta=0.5"])
    hydra_cfg = SimpleNamespace(
        mode=RunMode.MULTIRUN,
        job=SimpleNamespace(num=1),
        overrides=SimpleNamespace(task=[f"runs_dir={tmp_path}", "run_name=main", "dpo.beta=0.5"]),
    )
    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: hydra_cfg))
    monkeypatch.setattr(sys, "argv", ["stages/dpo.py", f"runs_dir={tmp_path}", "run_name=main", "dpo.beta=0.1,0.5"])
    cli.name_sweep_job(cfg)
    assert cfg.run_name == "main-dpo.beta:0.5"
    assert compose([f"run_name={cfg.run_name}"]).run_name == cfg.run_name  # `make eval ARGS="run_name=..."` names it
    assert cfg.dpo.parent == str(tmp_path / "main" / "sft")
    assert cfg.rlvr.parent == str(tmp_path / "main" / "dpo")
    assert cfg.sft.parent == "base"
