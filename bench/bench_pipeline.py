"""The main job's wall time, step by step, and whether its held-out table still matches the reference.

    .venv/bin/python bench/bench_pipeline.py [--seed 42] [-- overrides]

Runs `python -m stages.pipeline runs_dir=<tmp> run_name=bench logging=none seed=S` as a child process in a fresh
runs directory (nothing reused: every stage trains, the DPO reference log-probs are computed, every eval runs; the
embedded model is built unless .cache/tiny has it, a few seconds). Prints the child's wall time (Python start-up
included), the pipeline's own time per step (its report.md), and each benchmark's score after each stage next to
the reference table: the README's, seed 42, before the speed work of issue 21. `ok` when a score is no lower than
the reference minus one standard error (the reference's), `BELOW` otherwise. With another seed the reference is
printed for orientation only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

from measure import OFFLINE_ENV, run_measured  # bench/measure.py: the script directory is on sys.path

STAGES = ("base", "sft", "dpo", "rlvr")
REFERENCE_SEED = 42
# score, standard error (%) per stage: runs/default of the README ("Results"), seed 42
REFERENCE = {
    "gsm8k": [(0.0, 0.0), (29.7, 2.6), (82.7, 2.2), (88.3, 1.9)],
    "math": [(0.0, 0.0), (11.3, 1.8), (20.0, 2.3), (20.3, 2.3)],
    "ifeval": [(16.7, 1.8), (71.2, 2.2), (77.0, 2.0), (77.5, 2.0)],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=REFERENCE_SEED)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runs:
        command = [sys.executable, "-m", "stages.pipeline", f"runs_dir={runs}", "run_name=bench", "logging=none"]
        command += [f"seed={args.seed}", *args.overrides]
        _, wall, rss = run_measured(command, {**os.environ, **OFFLINE_ENV}, "pipeline")
        run = Path(runs) / "bench"
        steps = step_times((run / "report.md").read_text())
        scores = {stage: json.loads((run / "eval" / f"{stage}.json").read_text()) for stage in STAGES}

    print(f"make pipeline (seed {args.seed}): {wall:.1f} s wall, child process included; peak RSS {rss:.0f} MiB")
    for step, seconds in steps.items():
        print(f"  {step:<30} {seconds:7.1f} s")
    compared = args.seed == REFERENCE_SEED
    print(
        f"\nheld-out scores (%), reference (seed {REFERENCE_SEED}) in brackets"
        + (", ok = >= reference - 1 s.e." if compared else "")
    )
    print(f"{'benchmark':<10}" + "".join(f"{stage:>24}" for stage in STAGES))
    below = 0
    for benchmark, reference in REFERENCE.items():
        cells = []
        for stage, (ref, ref_se) in zip(STAGES, reference):
            result = scores[stage]["benchmarks"][benchmark]
            score = 100 * result["score"]
            verdict = ("ok" if score >= ref - ref_se else "BELOW") if compared else ""
            below += verdict == "BELOW"
            cells.append(f"{score:5.1f} ±{100 * result['stderr']:.1f} [{ref:5.1f}] {verdict:<5}")
        print(f"{benchmark:<10}" + "".join(f"{cell:>24}" for cell in cells))
    if compared:
        print(f"\n{below} of {len(REFERENCE) * len(STAGES)} scores below the reference by more than one standard error")


def step_times(report: str) -> dict[str, float]:
    """The pipeline's `| step | wall time |` table in report.md, as {step: seconds}."""
    rows = re.findall(r"^\| ([^|]+?) \|\s+([\d.]+) s", report, flags=re.MULTILINE)
    return {step: float(seconds) for step, seconds in rows}


if __name__ == "__main__":
    main()
