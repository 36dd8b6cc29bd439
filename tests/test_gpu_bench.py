"""`make gpu-bench` (bench/gpu_bench.py): a clear skip without a GPU, and -- the same code at toy sizes on the CPU --
every section runs and reports what it measured, so the script a lent GPU gets has run end to end before."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))
import gpu_bench  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible: the bench would run, not skip")
def test_without_a_gpu_the_bench_says_so_and_exits_0():
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "gpu_bench.py")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "gpu-bench: skipped -- no CUDA GPU visible" in done.stdout


def test_packed_rows_hold_exactly_the_tokens_asked_for_in_sequences_of_the_drawn_lengths():
    for seed in range(20):
        lengths = gpu_bench.sequence_lengths(16384, 512, seed)
        assert sum(lengths) == 16384 and all(0 < n <= 4096 for n in lengths)
    assert gpu_bench.sequence_lengths(16384, 512, 1) != gpu_bench.sequence_lengths(16384, 512, 2)


@pytest.mark.slow
def test_on_the_cpu_every_section_runs_and_reports_its_figures(tmp_path):
    out = tmp_path / "gpu-bench.json"
    assert gpu_bench.main(["--cpu", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    sections = report["sections"]
    assert set(sections) == {"matmul", "attention", "sft", "dpo", "grpo", "eval"}  # no pipeline on a CPU
    assert all(section["status"] == "ok" for section in sections.values())
    variants = sections["attention"]["variants"]
    assert variants["varlen_sdpa"]["tokens_per_s"] > 0
    assert variants["sdpa (block mask)"]["max_abs_diff_vs_varlen_sdpa"] < 1e-4  # the same attention, two ways
    sft = sections["sft"]
    for trainer in ("stage", "plain TRL"):
        assert sft[trainer]["tokens_per_s"] > 0 and 0 < sft[trainer]["mfu_measured"] < 1
    assert sft["stage"]["weights_dtype"] == "float32" and sft["stage"]["attn_implementation"] == "varlen_sdpa"
    assert sft["stage / plain TRL"] == pytest.approx(sft["stage"]["tokens_per_s"] / sft["plain TRL"]["tokens_per_s"])
    assert sections["dpo"]["steps"] == 2 and sections["grpo"]["steps"] == 1
    assert sections["eval"]["ran_on"]["device"] == "cpu"


def test_gpu_wheels_carry_only_what_the_target_lacks_or_holds_at_a_version_a_requirement_refuses(tmp_path, capsys):
    import gpu_wheels

    needed = gpu_wheels.runtime_closure(skip={"wandb", "deepspeed"})
    assert {"transformers", "trl", "datasets", "hydra-core", "math-verify"} <= set(needed)
    assert "torch" not in needed and "wandb" not in needed and not any(n.startswith("nvidia-") for n in needed)
    freeze = tmp_path / "freeze.txt"
    freeze.write_text(
        "".join(
            f"{name}=={'0.0.1' if name == 'transformers' else '99.0' if name == 'numpy' else version}\n"
            for name, version in needed.items()
            if name != "trl"
        )
    )
    assert gpu_wheels.main(["--target-freeze", str(freeze), "--dry-run"]) == 0
    listed = capsys.readouterr().out.splitlines()
    carried = sorted(line.strip().split("==")[0] for line in listed if line.startswith("  "))
    # trl missing, transformers too old for trl's transformers>=4.56.2; numpy 99.0 meets every numpy>=... there is
    assert carried == ["transformers", "trl"]
