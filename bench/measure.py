"""Shared by the benchmark scripts: the offline, quiet environment they run in, running one command as a child
process measured from outside (a stage: `run_stage`), the config a stage would see for a command line (in-process
benchmarks), and for the experiments that compare two recipes' seed runs: each checkpoint's validation-set answers
(`validation`: conf/eval/validation.yaml, where a choice is made) and the paired test between two recipes
(`comparison`, eval/seeds.py's)."""

from __future__ import annotations

import json
import os
import shutil
import statistics
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


def run(command: list[str]) -> None:
    """`command` offline in the repository root, its output passed through; raises if it fails."""
    print("[experiment]", " ".join(command), flush=True)
    subprocess.run(command, cwd=REPO_ROOT, env={**os.environ, **OFFLINE_ENV}, check=True)


def copy_parents(runs: Path, source: str, target: str) -> None:
    """The run `source`'s SFT and DPO checkpoints and their eval results, copied into the run `target` (the pipeline
    there reuses them and trains RLVR only); nothing is done if `target` exists."""
    if (runs / target).exists():
        return
    (runs / target / "eval").mkdir(parents=True)
    for stage in ("sft", "dpo"):
        shutil.copytree(runs / source / stage, runs / target / stage)
    for path in (runs / source / "eval").iterdir():
        if not path.name.startswith("rlvr"):
            shutil.copy2(path, runs / target / "eval" / path.name)


def validation(run_name: str, stage: str) -> Path:
    """runs/<run_name>/eval/val900_<stage>.generations.jsonl: the stage's checkpoint scored on the validation set.
    eval.run reuses the file only when it is of this checkpoint's content: answers copied with a run's parents, or
    left by an RLVR trained again, are not read as the new checkpoint's."""
    run([sys.executable, "-m", "eval.run", "eval=validation", f"eval.model=runs/{run_name}/{stage}",
         f"eval.name=val900_{stage}", f"run_name={run_name}", "logging=none"])  # fmt: skip
    return REPO_ROOT / "runs" / run_name / "eval" / f"val900_{stage}.generations.jsonl"


def prompt_scores(generations: Path) -> dict[tuple[str, int], float]:
    """{(benchmark, prompt id): score} of one checkpoint's generations file."""
    rows = (json.loads(line) for line in generations.read_text().splitlines())
    return {(r["dataset"], r["id"]): float(r.get("score") or 0.0) for r in rows}


def comparison(a: dict[int, dict], b: dict[int, dict], seeds: list[int]) -> dict:
    """B against A over seeds and prompts, the average of the three families and each family (the scripts put the
    repository root on sys.path)."""
    from eval.seeds import paired_test, seed_level_p

    out = {}
    for family in (None, "gsm8k", "math", "ifeval"):
        pairs = [(k[0], a[s][k], b[s][k]) for s in seeds for k in a[s] if k in b[s] and family in (None, k[0])]
        test = paired_test(pairs)
        per_seed = []
        for s in seeds:
            mine = [(k[0], a[s][k], b[s][k]) for k in a[s] if family in (None, k[0])]
            names = sorted({n for n, _, _ in mine})
            per_seed.append(
                100 * statistics.fmean(statistics.fmean(y - x for n, x, y in mine if n == name) for name in names)
            )
        out[family or "average"] = {
            "diff": 100 * test["diff"],
            "low": 100 * test["low"],
            "high": 100 * test["high"],
            "p": test["p"],
            "per_seed": dict(zip(map(str, seeds), per_seed)),
            "p_over_seeds": seed_level_p(per_seed),
        }
    return out


def comparison_cells(versus: dict) -> str:
    """One line of `comparison`'s result: each family's difference, its 95% interval and p."""
    cells = (f"{k} {v['diff']:+.1f} [{v['low']:+.1f}, {v['high']:+.1f}] p={v['p']:.3f}" for k, v in versus.items())
    return ", ".join(cells)


def family_means(scores: dict[tuple[str, int], float]) -> dict[str, float]:
    """Each benchmark's mean score in points, and their average."""
    families = sorted({k[0] for k in scores})
    means = {f: 100 * statistics.fmean(v for k, v in scores.items() if k[0] == f) for f in families}
    return means | {"average": statistics.fmean(means.values())}


def mean_sd(values: list[float]) -> str:
    """'m ± sd' over the seeds ('m' for one seed)."""
    mean = f"{statistics.fmean(values):.1f}"
    return f"{mean} ± {statistics.stdev(values):.1f}" if len(values) > 1 else mean
