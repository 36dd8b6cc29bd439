"""RLVR's gain against its number of steps, over seeds: one long run per seed with a checkpoint every `--every` steps,
each checkpoint scored on the core benchmarks (held out) and on the validation set. What docs/results.md ("How far RL
steps go") reports.

    .venv/bin/python bench/experiment_rlvr_steps.py [--from default] [--name steps400] [--seeds 42 2 7]
        [--steps 400] [--every 100] [--against default] [-- overrides, e.g. rlvr.dynamic_sampling=false]

For each seed the run `<from>-s<seed>` (make pipeline SEEDS="42 2 7") supplies SFT and DPO and their eval results,
copied into `<name>-s<seed>`; the pipeline there reuses them and trains RLVR for `--steps` steps with TRL's
checkpoints every `--every` steps (runs/<name>-s<seed>/work/rlvr/checkpoint-N). With a constant learning rate and the
seed's sampler, checkpoint N is the N-step run's RLVR checkpoint (seed 42's checkpoint-100 scores the default's RLVR
table to the digit). Each point is tested against the RLVR checkpoints of `--against` (its val900 answers,
bench/measure.validation) on the validation set, paired over seeds and problems. Writes runs/<name>-curve.json, .md
and .png (RLVR - DPO against steps, held out and validation).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from measure import REPO_ROOT, comparison, copy_parents, prompt_scores, run, validation

sys.path.insert(0, str(REPO_ROOT))  # eval.seeds, for measure.comparison
FAMILIES = ("gsm8k", "math", "ifeval")


def scored(run_name: str, name: str, checkpoint: Path, validation_set: bool) -> Path:
    """The checkpoint's eval result (runs/<run>/eval/<name>.json) on the core benchmarks or the validation set.
    eval.run reuses a result only when it is of this checkpoint's content: a retrained run is scored again."""
    extra = ["eval=validation"] if validation_set else []
    run([sys.executable, "-m", "eval.run", *extra, f"eval.model={checkpoint}", f"eval.name={name}",
         f"run_name={run_name}", "logging=none"])  # fmt: skip
    return REPO_ROOT / "runs" / run_name / "eval" / f"{name}.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", default="default")
    parser.add_argument("--name", default="steps400")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 2, 7])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--against", default=None, help="run group whose RLVR checkpoints each point is tested against")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the RLVR run")
    args = parser.parse_args()
    runs = REPO_ROOT / "runs"
    for seed in args.seeds:
        copy_parents(runs, f"{args.source}-s{seed}", f"{args.name}-s{seed}")
    start = time.time()
    seeds = "seeds=[" + ",".join(map(str, args.seeds)) + "]"
    run([sys.executable, "-m", "stages.pipeline", f"run_name={args.name}", seeds, "logging=none",
         f"rlvr.max_steps={args.steps}", "rlvr.save_strategy=steps", f"rlvr.save_steps={args.every}",
         *args.overrides])  # fmt: skip
    wall = time.time() - start

    points = [*range(args.every, args.steps, args.every), args.steps]
    curve: dict = {"overrides": args.overrides, "pipeline_wall_s": wall, "steps": points, "seeds": {}}
    answers: dict[int, dict[int, dict]] = {step: {} for step in points}  # step -> seed -> validation answers
    for seed in args.seeds:
        run_name = f"{args.name}-s{seed}"
        checkpoints = {0: runs / run_name / "dpo", args.steps: runs / run_name / "rlvr"}
        checkpoints |= {step: runs / run_name / "work" / "rlvr" / f"checkpoint-{step}" for step in points[:-1]}
        rows = {}
        for step, checkpoint in sorted(checkpoints.items()):
            core = json.loads(scored(run_name, f"steps_core_{step}", checkpoint, False).read_text())
            val = scored(run_name, f"steps_val_{step}", checkpoint, True)
            val_answers = prompt_scores(val.with_name(f"{val.stem}.generations.jsonl"))
            if step:
                answers[step][seed] = val_answers
            rows[step] = {
                "core": 100 * core["average"],
                **{f: 100 * core["benchmarks"][f]["score"] for f in FAMILIES},
                "validation": 100 * statistics.fmean(val_answers.values()),
            }
        manifest = json.loads((runs / run_name / "rlvr" / "manifest.json").read_text())
        curve["seeds"][str(seed)] = {"points": rows, "rlvr_wall_s": manifest.get("wall_time_s")}
    if args.against:
        against = {s: prompt_scores(validation(f"{args.against}-s{s}", "rlvr")) for s in args.seeds}
        curve["validation_against"] = {
            str(step): comparison(against, answers[step], args.seeds)["average"] for step in points
        }
    (runs / f"{args.name}-curve.json").write_text(json.dumps(curve, indent=1))
    table = markdown(curve, args)
    (runs / f"{args.name}-curve.md").write_text(table)
    plot(curve, runs / f"{args.name}-curve.png")
    print(table)
    return 0


def gains(curve: dict, step: int, key: str) -> list[float]:
    """RLVR - DPO per seed at `step`, in points."""
    return [s["points"][step][key] - s["points"][0][key] for s in curve["seeds"].values()]


def markdown(curve: dict, args) -> str:
    seeds = " / ".join(curve["seeds"])
    lines = [
        f"RLVR − DPO in points after N steps (`{' '.join(args.overrides) or 'the default'}`; seeds {seeds})",
        "",
        f"| steps | validation, mean (per seed) | held out, mean (per seed) | gsm8k / math / IFEval held out |"
        f"{' validation against ' + args.against + ' [95%], p |' if args.against else ''}",
        "|---|---|---|---|" + ("---|" if args.against else ""),
    ]
    for step in curve["steps"]:
        val, core = gains(curve, step, "validation"), gains(curve, step, "core")
        families = " / ".join(f"{statistics.fmean(gains(curve, step, f)):+.1f}" for f in FAMILIES)
        cells = [
            str(step),
            f"{statistics.fmean(val):+.1f} ({', '.join(f'{v:+.1f}' for v in val)})",
            f"{statistics.fmean(core):+.1f} ({', '.join(f'{v:+.1f}' for v in core)})",
            families,
        ]
        if args.against:
            t = curve["validation_against"][str(step)]
            cells.append(f"{t['diff']:+.1f} [{t['low']:+.1f}, {t['high']:+.1f}], p = {t['p']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    walls = [s["rlvr_wall_s"] or 0 for s in curve["seeds"].values()]
    lines += ["", f"RLVR wall for {curve['steps'][-1]} steps: {min(walls):.0f}–{max(walls):.0f} s a seed"]
    return "\n".join(lines) + "\n"


def plot(curve: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [0, *curve["steps"]]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axis, key, title in ((axes[0], "validation", "validation set (900)"), (axes[1], "core", "held out (3 x 300)")):
        for seed, entry in curve["seeds"].items():
            points = entry["points"]
            axis.plot(steps, [points[s][key] - points[0][key] for s in steps], "o-", alpha=0.6, label=f"seed {seed}")
        means = [statistics.fmean(gains(curve, s, key)) if s else 0.0 for s in steps]
        axis.plot(steps, means, "k-", linewidth=2.5, label="mean")
        axis.axhline(3.0, color="red", linestyle="--", linewidth=1, label="issue 34's +3.0")
        axis.set(title=title, xlabel="RLVR steps", ylabel="RLVR − DPO (points)")
        axis.grid(alpha=0.3)
    axes[1].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
