"""RLVR settings for SmolLM2-135M-Instruct on a CPU (`+experiment=smollm2_cpu`), chosen on the validation slice: what
docs/results.md ("Real models on a CPU") reports.

    .venv/bin/python bench/experiment_smollm2_rlvr.py [--variants lr3e-6 ...] [--steps 60] [--every 20] [--rows 150]

The run `smollm2_cpu` (make pipeline ARGS="+experiment=smollm2_cpu", or its SFT and DPO stages) supplies the DPO
checkpoint. Each variant trains RLVR from it in its own run `smollm2-rlvr-<variant>` (the preset's RLVR with the
variant's overrides, `--steps` steps, a checkpoint every `--every`), and every checkpoint, the DPO one first, is scored
on the first `--rows` problems of the validation set (conf/eval/validation.yaml: 900 problems no training file uses,
the families interleaved; 150 by default, 900 for the IFEval variants of 2026-12-06, whose 300 IFEval problems tell a
gain of a few points; the first figures were measured on the slice before it, the last 150 RLVR prompts, which the
preset still leaves out of training), whole and per family. The learning rate schedule is constant, so the checkpoint
at step N is what a run of N steps gives. The held-out benchmarks are not looked at here. The table:
runs/smollm2-rlvr-variants-<rows>.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from measure import OFFLINE_ENV  # bench/measure.py: the script directory is on sys.path

ROOT = Path(__file__).resolve().parent.parent
PRESET = ["+experiment=smollm2_cpu", "logging=none"]
# The preset's RLVR until 2026-12-06: every family, 4 prompts x 4 samples a step, padded log-prob passes
EVERY_FAMILY = [
    "data.rlvr=[{path: 'embedded:rlvr_train', split: 'train[:-150]'}]",
    "rlvr.num_generations=4",
    "rlvr.per_device_train_batch_size=16",
    "rlvr.padding_free=false",
]
# Since: the IFEval prompts only, 4 prompts x 8 samples, padding-free (the same loss, ~27% less update time)
IFEVAL_ONLY = [
    "data.rlvr=[{path: 'embedded:rlvr_train', split: 'train[:-150]', datasets: [ifeval]}]",
    "rlvr.num_generations=8",
    "rlvr.per_device_train_batch_size=32",
    "rlvr.padding_free=true",
]
VARIANTS = {
    "lr3e-6": [*EVERY_FAMILY, "rlvr.learning_rate=3e-6"],  # the first preset's, as its first results were measured
    "lr1e-5": [*EVERY_FAMILY, "rlvr.learning_rate=1e-5"],
    "lr1e-5-dynamic": [*EVERY_FAMILY, "rlvr.learning_rate=1e-5", "rlvr.dynamic_sampling=true"],
    "lr1e-5-kl": [*EVERY_FAMILY, "rlvr.learning_rate=1e-5", "rlvr.beta=0.01"],
    "ifeval-g8-lr5e-6": [*IFEVAL_ONLY, "rlvr.learning_rate=5e-6"],
    "ifeval-g8-lr1e-5": [*IFEVAL_ONLY, "rlvr.learning_rate=1e-5"],
}
ENV = {**os.environ, **OFFLINE_ENV}


def python(*args: str) -> None:
    subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, check=True)


def validation(runs: Path, run: str, checkpoint: Path, name: str, rows: int) -> dict:
    """The checkpoint on the validation set's first `rows` problems (the families interleaved): the score (mean over
    rows), its standard error, and per family."""
    python(
        "-m",
        "eval.run",
        *PRESET,
        f"run_name={run}",
        "eval=validation",
        f"eval.max_rows={rows}",
        f"eval.model={checkpoint}",
        f"eval.name={name}",
    )
    result = json.loads((runs / run / "eval" / f"{name}.json").read_text())["benchmarks"]["validation"]
    families = defaultdict(list)
    with open(runs / run / "eval" / f"{name}.generations.jsonl") as generations:
        for line in generations:
            row = json.loads(line)
            families[row["dataset"]].append(float(row["score"]))
    return {
        "score": result["score"],
        "stderr": result["stderr"],
        **{family: statistics.fmean(scores) for family, scores in sorted(families.items())},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--source", default="smollm2_cpu", help="the run whose DPO checkpoint RLVR starts from")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--rows", type=int, default=150, help="validation problems scored (900 = all, ~6 min each)")
    args = parser.parse_args()
    runs = ROOT / args.runs_dir
    parent = runs / args.source / "dpo"
    record = runs / f"smollm2-rlvr-variants-{args.rows}.json"
    table = json.loads(record.read_text()) if record.exists() else {}  # earlier invocations' variants stay
    if "dpo" not in table:
        table["dpo"] = {
            "overrides": [],
            "steps": {"0": validation(runs, args.source, parent, "validation_dpo", args.rows)},
        }
    for variant in args.variants:
        run = f"smollm2-rlvr-{variant}"
        start = time.time()
        python(
            "-m",
            "stages.rlvr",
            *PRESET,
            f"run_name={run}",
            f"rlvr.parent={parent}",
            f"rlvr.max_steps={args.steps}",
            "rlvr.save_strategy=steps",
            f"rlvr.save_steps={args.every}",
            *VARIANTS[variant],
        )
        wall = time.time() - start
        scores = {}
        for step in range(args.every, args.steps + 1, args.every):
            checkpoint = runs / run / "work" / "rlvr" / f"checkpoint-{step}"
            scores[str(step)] = validation(runs, run, checkpoint, f"validation_step{step}", args.rows)
        table[variant] = {"overrides": VARIANTS[variant], "steps": scores, "rlvr_wall_s": wall}
        print(json.dumps({variant: table[variant]}, indent=1))
        record.write_text(json.dumps(table, indent=1))

    scored = {key for entry in table.values() for s in entry["steps"].values() for key in s}
    families = sorted(scored - {"score", "stderr"})
    lines = [
        "| variant | step | validation (± se) | " + " | ".join(families) + " | RLVR wall (s) |",
        "|---|---|---|" + "---|" * len(families) + "---|",
    ]
    for variant, entry in table.items():
        for step, s in entry["steps"].items():
            cells = [variant, step, f"{100 * s['score']:.1f} ± {100 * s['stderr']:.1f}"]
            cells += [f"{100 * s[family]:.1f}" if family in s else "–" for family in families]
            cells.append(f"{entry['rlvr_wall_s']:.0f}" if "rlvr_wall_s" in entry else "")
            lines.append("| " + " | ".join(cells) + " |")
    record.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
