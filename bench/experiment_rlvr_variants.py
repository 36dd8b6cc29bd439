"""RLVR variants on the embedded default over seeds, from each seed's own SFT and DPO checkpoints: what docs/results.md
("RLVR that earns its place") reports.

    .venv/bin/python bench/experiment_rlvr_variants.py [--seeds 42 2 7] [--from default] [--variants base dynamic ...]

For each seed the run `<from>-s<seed>` (make pipeline SEEDS="42 2 7") supplies SFT and DPO and their eval results; each
variant copies them into its own runs `rlvr-<variant>-s<seed>` and runs the pipeline there (SFT and DPO are reused, RLVR
trains with the variant's overrides, every stage is evaluated), which writes the seeds report runs/rlvr-<variant>-seeds/
(mean ± sd, RLVR against DPO with the paired test). Every variant trains on the default's RLVR prompts (data.rlvr,
train[:-150]) and is also scored on the validation set (conf/eval/validation.yaml: 900 problems no training file uses;
until 2026-12-05 the last 150 RLVR prompts), where settings are chosen; the core benchmarks are the held-out result.
Each variant's RLVR checkpoints are also tested against those of `--against` (default: `dynamic`, the default's
setting until 2026-12-07, when its runs exist) on the validation set, paired over seeds and problems. The table:
runs/rlvr-variants.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from measure import OFFLINE_ENV, copy_parents  # bench/measure.py: the script directory is on sys.path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # eval.seeds

# GRPO as conf/rlvr/grpo.yaml had it until 2026-12-07 (80 steps, no process reward), with dynamic sampling, and as it
# had it before dynamic sampling became its default: the bases the variants were measured from (a later override of
# the same key wins)
DYNAMIC = ["rlvr.dynamic_sampling=true", "rlvr.process_reward=0", "rlvr.max_steps=80"]
STATIC = [*DYNAMIC, "rlvr.dynamic_sampling=false"]
RLVR_TRAIN = "path: 'embedded:rlvr_train', split: 'train[:-150]'"  # conf/data/embedded.yaml's data.rlvr
VARIANTS = {
    "base": STATIC,
    "dynamic": DYNAMIC,
    "curriculum": [*STATIC, "rlvr.curriculum_samples=4"],
    "dynamic+curriculum": [*DYNAMIC, "rlvr.curriculum_samples=4"],
    "gspo": [*STATIC, "rlvr.importance_sampling_level=sequence", "rlvr.loss_type=grpo"],
    "cispo": [*STATIC, "rlvr.loss_type=cispo", "rlvr.epsilon_high=5.0"],
    "overlong": [*STATIC, "rlvr.overlong_buffer=24", "rlvr.nonstop_penalty=null"],
    "dynamic-lr6e-5": [*DYNAMIC, "rlvr.learning_rate=6e-5"],
    "dynamic-160steps": [*DYNAMIC, "rlvr.max_steps=160"],
    "ppo": ["rlvr=ppo"],
    # two updates per generation batch: the policy has moved by the second, so the ratio is no longer 1 and GSPO's
    # sequence-level ratio and CISPO's clipped weight differ from GRPO's token ratio (on-policy all three are equal)
    "base-2updates": [*STATIC, "rlvr.num_iterations=2"],
    "gspo-2updates": [
        *STATIC,
        "rlvr.importance_sampling_level=sequence",
        "rlvr.loss_type=grpo",
        "rlvr.num_iterations=2",
    ],
    "cispo-2updates": [*STATIC, "rlvr.loss_type=cispo", "rlvr.epsilon_high=5.0", "rlvr.num_iterations=2"],
    "dynamic-T0.7": [*DYNAMIC, "rlvr.temperature=0.7"],
    # the steady recipe's RLVR loses gsm8k answers it had to arithmetic slips ("51 - 10 = 31"): a stronger pull to the
    # DPO policy, or a smaller step, to keep the facts it knew
    "dynamic-beta0.05": [*DYNAMIC, "rlvr.beta=0.05"],
    "dynamic-beta0.1": [*DYNAMIC, "rlvr.beta=0.1"],
    "dynamic-lr1.5e-5": [*DYNAMIC, "rlvr.learning_rate=1.5e-5"],
    # a group of 7 right and 1 wrong gives the wrong answer -2.5 under the group's std: scaled by the batch's std
    # instead, or not at all (Dr. GRPO), the rare slip in a solved group weighs less against the rest
    "dynamic-scale-batch": [*DYNAMIC, "rlvr.scale_rewards=batch"],
    "dynamic-scale-none": [*DYNAMIC, "rlvr.scale_rewards=none"],
    # the slips are false steps in the working: the step checker (rewards/process.py) pays for true, used ones
    "dynamic-process2": [*DYNAMIC, "rlvr.process_reward=2"],
    "dynamic-process5": [*DYNAMIC, "rlvr.process_reward=5"],
    # RL data where it teaches: every seed loses gsm8k under RLVR (slips) while math gains, so the same steps spent on
    # the math and IFEval prompts only
    "dynamic-no-gsm8k": [*DYNAMIC, f"data.rlvr=[{{{RLVR_TRAIN}, datasets: [math, ifeval]}}]"],
    # the process reward leaves fewer groups of one reward to refill: the time that saves, spent on half as many steps
    # again (the reward's step score was paid whatever the answer until 2026-12-07: runs/ungated-*)
    "dynamic-process2-120steps": [*DYNAMIC, "rlvr.process_reward=2", "rlvr.max_steps=120"],
    # paid only beside a right answer (since 2026-12-07), the step score leaves more groups of one reward (all wrong)
    # to refill, and 120 steps cost RLVR 50 s: the same gain in fewer steps (the default since 2026-12-07), or with one
    # refill round
    "dynamic-process2-100steps": [*DYNAMIC, "rlvr.process_reward=2", "rlvr.max_steps=100"],
    "dynamic-process2-120steps-1round": [
        *DYNAMIC,
        "rlvr.process_reward=2",
        "rlvr.max_steps=120",
        "rlvr.dynamic_sampling_max_rounds=1",
    ],
}
ENV = {**os.environ, **OFFLINE_ENV}


def python(*args: str) -> None:
    subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, check=True)


def validation_score(runs: Path, run: str, stage: str) -> dict:
    """The stage's checkpoint scored on the validation slice (eval/validation_<stage>.json)."""
    name = f"validation_{stage}"
    python(
        "-m",
        "eval.run",
        f"run_name={run}",
        "eval=validation",
        f"eval.model={runs / run / stage}",
        f"eval.name={name}",
        "logging=none",
    )
    return json.loads((runs / run / "eval" / f"{name}.json").read_text())


def sampled_pass1(runs: Path, run: str, stage: str) -> float:
    """The stage's checkpoint on the core benchmarks with 4 answers per prompt sampled at T = 1: the mean over
    benchmarks of pass@1 (the share of samples fully right)."""
    name = f"sampled_{stage}"
    python(
        "-m",
        "eval.run",
        f"run_name={run}",
        f"eval.model={runs / run / stage}",
        f"eval.name={name}",
        "eval.temperature=1.0",
        "eval.num_samples=4",
        "logging=none",
    )
    result = json.loads((runs / run / "eval" / f"{name}.json").read_text())
    return statistics.fmean(bench["pass_at_k"]["1"] for bench in result["benchmarks"].values())


def validation_against(runs: Path, base: str, group: str, seeds: list[int]) -> dict[str, dict[str, float]]:
    """The variant's RLVR checkpoints against the base variant's on the validation set, paired over seeds and
    problems (eval/seeds.py's test): the average over the three families, then each family, in points."""
    from eval.seeds import paired_test

    def scores(run: str) -> dict[tuple[str, int], float]:
        lines = (runs / run / "eval" / "validation_rlvr.generations.jsonl").read_text().splitlines()
        return {(row["dataset"], row["id"]): row["score"] for row in map(json.loads, lines)}

    pairs = []
    for seed in seeds:
        before, after = scores(f"{base}-s{seed}"), scores(f"{group}-s{seed}")
        pairs += [(family, before[(family, i)], after[(family, i)]) for family, i in before]
    tests = {"average": paired_test(pairs)}
    for family in sorted({family for family, _, _ in pairs}):
        tests[family] = paired_test([pair for pair in pairs if pair[0] == family])
    return {
        name: {key: round(100 * value if key != "p" else value, 2) for key, value in test.items()}
        for name, test in tests.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 2, 7])
    parser.add_argument("--from", dest="source", default="default")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--sampled", action="store_true", help="also sampled pass@1 at T = 1 (4 samples a prompt)")
    parser.add_argument("--against", default="dynamic", help="the variant the others are tested against (validation)")
    args = parser.parse_args()
    runs = ROOT / args.runs_dir
    record = runs / "rlvr-variants.json"
    table = json.loads(record.read_text()) if record.exists() else {}  # earlier invocations' variants stay
    for variant in args.variants:
        group = f"rlvr-{variant.replace('+', '-')}"
        for seed in args.seeds:
            copy_parents(runs, f"{args.source}-s{seed}", f"{group}-s{seed}")
        seeds = "seeds=[" + ",".join(map(str, args.seeds)) + "]"
        start = time.time()
        overrides = [f"run_name={group}", seeds, "logging=none", *VARIANTS[variant]]
        python("-m", "stages.pipeline", *overrides)
        wall = time.time() - start
        rows = []
        for seed in args.seeds:
            run = f"{group}-s{seed}"
            dpo, rlvr = validation_score(runs, run, "dpo"), validation_score(runs, run, "rlvr")
            core = {s: json.loads((runs / run / "eval" / f"{s}.json").read_text())["average"] for s in ("dpo", "rlvr")}
            manifest = json.loads((runs / run / "rlvr" / "manifest.json").read_text())
            if args.sampled:
                sampled = {f"sampled_{s}": sampled_pass1(runs, run, s) for s in ("dpo", "rlvr")}
            else:
                sampled = {}
            rows.append(
                {
                    **sampled,
                    "seed": seed,
                    "validation_dpo": dpo["average"],
                    "validation_rlvr": rlvr["average"],
                    "core_dpo": core["dpo"],
                    "core_rlvr": core["rlvr"],
                    "rlvr_wall_s": manifest.get("wall_time_s"),
                }
            )
        table[variant] = {"overrides": VARIANTS[variant], "seeds": rows, "pipeline_wall_s": wall}
        base = f"rlvr-{args.against.replace('+', '-')}"
        if variant != args.against and all((runs / f"{base}-s{seed}" / "rlvr").exists() for seed in args.seeds):
            table[variant]["validation_against"] = {args.against: validation_against(runs, base, group, args.seeds)}
        print(json.dumps({variant: table[variant]}, indent=1))

    lines = [
        "| variant | validation RLVR − DPO (mean ± sd, points) | core RLVR − DPO | core RLVR | sampled pass@1 (T = 1) "
        "RLVR − DPO | RLVR wall (s) | validation RLVR against another variant [95%], p |",
        "|---|---|---|---|---|---|---|",
    ]

    def mean_sd(values):
        values = [100 * v for v in values]
        return f"{statistics.fmean(values):+.1f} ± {statistics.stdev(values) if len(values) > 1 else 0:.1f}"

    for variant, entry in table.items():
        rows = entry["seeds"]
        sampled = [r["sampled_rlvr"] - r["sampled_dpo"] for r in rows if "sampled_rlvr" in r]
        cells = [
            variant,
            mean_sd([r["validation_rlvr"] - r["validation_dpo"] for r in rows]),
            mean_sd([r["core_rlvr"] - r["core_dpo"] for r in rows]),
            f"{statistics.fmean(100 * r['core_rlvr'] for r in rows):.1f}",
            mean_sd(sampled) if len(sampled) == len(rows) else "–",
            f"{statistics.fmean(r['rlvr_wall_s'] or 0 for r in rows):.0f}",
            "; ".join(
                f"{other}: {t['average']['diff']:+.1f} [{t['average']['low']:+.1f}, {t['average']['high']:+.1f}], "
                f"p = {t['average']['p']:.2f}"
                for other, t in entry.get("validation_against", {}).items()
            )
            or "–",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    (runs / "rlvr-variants.md").write_text("\n".join(lines) + "\n")
    record.write_text(json.dumps(table, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
