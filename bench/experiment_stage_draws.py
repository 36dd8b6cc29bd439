"""Where a stage's spread across seeds comes from: the checkpoint it starts from, or its own draw.

    .venv/bin/python bench/experiment_stage_draws.py [--stage dpo|rlvr] [--seeds 42 2 7] [--draws 11 12 13]
                                                     [--from default] [--name NAME] [--out docs/stage_draws.json]
                                                     [-- stage overrides]

`seed` sets SFT's data order and, through it, DPO's draw (`dpo.data_seed: ${seed}`: which 640 of the 3000 preference
pairs its 40 steps take, in what order) and RLVR's (the prompts' order and the completions sampled). Holding each
seed's parent checkpoint fixed (`<from>-s<seed>`, a `make pipeline SEEDS=...` run) and drawing the stage again
separates the two:

1. per seed and draw: the run `<stage>draw-<name>-s<seed>-d<draw>` gets copies of the seed's checkpoints before the
   stage (reused, not trained), trains the stage with the draw (`dpo.data_seed=<draw>`; RLVR: `seed=<draw>`) and the
   given overrides, and scores it on the core benchmarks and the validation set (conf/eval/validation.yaml, 900
   problems no training file uses), skipping what exists;
2. per benchmark: the sd of the scores over draws within each seed (pooled: the draw's share of the spread) and the sd
   over seeds of each seed's mean over draws (the parent checkpoint's share, plus the draws' sd / sqrt(draws));
3. per seed, the forms of the seed's own runs' held-out math answers after each stage: how many work in the arithmetic
   drill's notation ("8 * 3 = 24. 24 + 2 = 26.", DPO's chosen form) and how many of those are right, against the
   rest (mostly LaTeX working, 70% of the SFT demonstrations: data/generate.py's COMPACT_SHARE);
4. writes all of it as JSON under --out, keyed by --name (default: the stage), keeping other names' entries.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from measure import OFFLINE_ENV, REPO_ROOT  # bench/measure.py: the script directory is on sys.path

BENCHMARKS = ("gsm8k", "math", "ifeval")
DRILL_FORM = re.compile(r"-?\d+ [-+*/] -?\d+ = ")  # an answer that opens with a drill fact ("8 * 3 = 24.")
ENV = {**os.environ, **OFFLINE_ENV}


def python(*args: str) -> None:
    subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=ENV, check=True)


def scores(result_file: Path) -> dict[str, float]:
    """Per core benchmark, the score in points."""
    result = json.loads(result_file.read_text())
    return {name: 100 * bench["score"] for name, bench in result["benchmarks"].items()}


PARENTS = {"dpo": ("sft",), "rlvr": ("sft", "dpo")}


def stage_run(runs: Path, stage: str, source: str, run: str, seed: int, draw: int, overrides: list[str]) -> dict:
    """The stage's checkpoint of one (seed, draw), trained and scored unless it already is: its scores and time."""
    for parent in PARENTS[stage]:
        if not (runs / run / parent).exists():
            (runs / run / "eval").mkdir(parents=True, exist_ok=True)
            shutil.copytree(runs / source / parent, runs / run / parent)
            shutil.copy2(runs / source / "eval" / f"{parent}.json", runs / run / "eval" / f"{parent}.json")
    draw_override = f"dpo.data_seed={draw}" if stage == "dpo" else f"seed={draw}"
    common = [f"run_name={run}", f"seed={seed}", "logging=none"]
    if not (runs / run / stage / "manifest.json").exists():
        python("-m", f"stages.{stage}", *common, draw_override, *overrides)
    if not (runs / run / "eval" / f"{stage}.json").exists():
        python("-m", "eval.run", *common, f"eval.stages=[{stage}]")
    validation = f"validation_{stage}"
    if not (runs / run / "eval" / f"{validation}.json").exists():
        python(
            "-m", "eval.run", *common, "eval=validation", f"eval.model={runs / run / stage}", f"eval.name={validation}"
        )
    return {
        "core": scores(runs / run / "eval" / f"{stage}.json"),
        "validation": validation_scores(runs / run / "eval" / f"{validation}.json"),
        "stage_wall_s": json.loads((runs / run / stage / "manifest.json").read_text()).get("wall_time_s"),
    }


def validation_scores(result_file: Path) -> dict[str, float]:
    """The validation set's score per family (gsm8k, math, ifeval rows of its one benchmark), in points."""
    rows = [json.loads(line) for line in result_file.with_suffix(".generations.jsonl").read_text().splitlines()]
    return {
        family: 100 * statistics.fmean(r["score"] for r in rows if r["dataset"] == family)
        for family in sorted({r["dataset"] for r in rows})
    }


def answer_forms(run_dir: Path) -> dict[str, dict[str, int]]:
    """Per stage, the held-out math answers in the drill's notation and the others, each with how many are right."""
    forms = {}
    for stage in ("sft", "dpo", "rlvr"):
        generations = run_dir / "eval" / f"{stage}.generations.jsonl"
        rows = [r for r in map(json.loads, generations.read_text().splitlines()) if r["benchmark"] == "math"]
        drill = [r for r in rows if DRILL_FORM.match(r["response"])]
        forms[stage] = {
            "drill": len(drill),
            "drill_right": int(sum(r["score"] for r in drill)),
            "other": len(rows) - len(drill),
            "other_right": int(sum(r["score"] for r in rows) - sum(r["score"] for r in drill)),
        }
    return forms


def spread(table: dict[int, dict[int, dict]], part: str, benchmark: str) -> dict[str, float]:
    """sd over draws within each seed (pooled), and sd over seeds of their means over draws."""
    within = [statistics.variance([d[part][benchmark] for d in draws.values()]) for draws in table.values()]
    means = [statistics.fmean(d[part][benchmark] for d in draws.values()) for draws in table.values()]
    return {
        "sd_over_draws": round(statistics.fmean(within) ** 0.5, 2),
        "sd_over_seeds": round(statistics.stdev(means), 2),
        "mean": round(statistics.fmean(means), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=list(PARENTS), default="dpo")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 2, 7])
    parser.add_argument("--draws", nargs="+", type=int, default=[11, 12, 13])
    parser.add_argument("--from", dest="source", default="default")
    parser.add_argument("--name", default=None)
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--out", default="docs/stage_draws.json")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    runs = REPO_ROOT / args.runs_dir
    name = args.name or args.stage
    table: dict[int, dict[int, dict]] = {}
    for seed in args.seeds:
        table[seed] = {}
        for draw in args.draws:
            run = f"{args.stage}draw-{name}-s{seed}-d{draw}"
            table[seed][draw] = stage_run(runs, args.stage, f"{args.source}-s{seed}", run, seed, draw, args.overrides)
            print(f"[stage-draws] {run}: {json.dumps(table[seed][draw])}", flush=True)
    summary = {part: {b: spread(table, part, b) for b in BENCHMARKS} for part in ("core", "validation")}
    out = REPO_ROOT / args.out
    record = json.loads(out.read_text()) if out.exists() else {}
    forms = {seed: answer_forms(runs / f"{args.source}-s{seed}") for seed in args.seeds}
    record[name] = {"stage": args.stage, "overrides": args.overrides, "seeds": table, "spread": summary, "forms": forms}
    out.write_text(json.dumps(record, indent=1) + "\n")
    for seed, stages in forms.items():
        print(
            f"seed {seed} math answers, drill form (right) / other (right): "
            + ", ".join(
                f"{stage} {f['drill']} ({f['drill_right']}) / {f['other']} ({f['other_right']})"
                for stage, f in stages.items()
            )
        )
    for part, benchmarks in summary.items():
        for benchmark, s in benchmarks.items():
            print(
                f"{part:10s} {benchmark:7s} mean {s['mean']:5.1f}  sd over draws {s['sd_over_draws']:4.1f}  "
                f"sd over seeds {s['sd_over_seeds']:4.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
