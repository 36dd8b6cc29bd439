"""Shared by the benchmark scripts: the offline, quiet environment they run in, running one command as a child
process measured from outside (a stage: `run_stage`), and the config a stage would see for a command line
(in-process benchmarks)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Nothing downloaded, nothing logged to W&B, no tokenizer threads fighting the model's for the two cores.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "WANDB_MODE": "disabled",
    "TOKENIZERS_PARALLELISM": "false",
}


def run_measured(command: list[str], env: dict, label: str) -> tuple[str, float, float]:
    """(output, wall seconds, peak RSS MiB of the child); exits with the output's tail if the command fails."""
    start = time.time()
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read().decode(errors="replace")  # drain before waiting, so the pipe never fills up
    _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, not all children's
    wall = time.time() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{label} failed:\n{output[-4000:]}")
    return output, wall, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def run_stage(module: str, run_name: str, *overrides: str, label: str | None = None) -> float:
    """`python -m <module> run_name=<run_name> logging=none <overrides>` offline, measured; its wall seconds."""
    label = label or run_name
    env = {**os.environ, **OFFLINE_ENV}
    command = [sys.executable, "-m", module, f"run_name={run_name}", "logging=none", *overrides]
    print(f"[experiment] {label}: {' '.join(command[2:])}", flush=True)
    _, wall, _ = run_measured(command, env, label)
    print(f"[experiment] {label}: {wall:.0f}s", flush=True)
    return wall


def compose(overrides: list[str]):
    """The composed, schema-checked config of `python -m stages.X <overrides>` (the project's packages must be
    importable: the scripts put the repository root on sys.path)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import runtime.config  # noqa: F401  (registers the schema)

    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base=None):
        return hydra_compose("config", overrides=overrides)
