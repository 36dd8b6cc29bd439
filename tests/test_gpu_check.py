"""`make gpu-check` (bench/gpu_check.py): a clear skip without a GPU, and -- the same code path on the CPU -- every
stage runs and reports throughput, MFU, dtype and attention implementation from what the stages ran."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))
import gpu_check  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible: the check would run, not skip")
def test_without_a_gpu_the_check_says_so_and_exits_0():
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "gpu_check.py")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0
    assert "gpu-check: skipped -- no CUDA GPU visible" in done.stdout


@pytest.mark.slow
def test_on_the_cpu_every_stage_runs_and_reports_what_ran(tmp_path):
    out = tmp_path / "gpu-check.json"
    assert gpu_check.main(["--cpu", "--models", "tiny", "--steps", "2", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [s["stage"] for s in report["stages"]][:4] == ["sft", "dpo", "grpo", "grpo+shared"]
    assert report["measured_peak_tflops"] > 0
    for stage in report["stages"][:4]:
        assert stage["status"] == "ok" and stage["steps"] == 2
        assert 0.9e6 < stage["parameters"] < 1.1e6  # the tiny default
        assert stage["tokens"] > 0 and stage["tokens_per_s"] > 0 and 0 < stage["mfu_measured"] < 1
        assert stage["dtype"] == "float32" and stage["attn_implementation"] in ("sdpa", "varlen_sdpa", "eager")
