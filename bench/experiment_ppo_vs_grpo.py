"""PPO with a value model (`rlvr=ppo`) against GRPO (`rlvr=grpo`) on the embedded default, side by side at an equal
number of generated completions (32 per step, 80 steps), from the same DPO checkpoint of each seed.

    .venv/bin/python bench/experiment_ppo_vs_grpo.py [--seeds 42 2 7] [--from default] [--out docs/ppo_vs_grpo]

Each (algorithm, seed) trains RLVR in a process of its own (`python -m stages.rlvr`, so its peak resident memory is
its own: bench/measure.run_measured) from runs/<from>-s<seed>/dpo, on the default's RLVR prompts (the validation
slice left out), into
runs/ppo-vs-grpo-<algorithm>-s<seed>; then the eval suite scores the checkpoint on the core benchmarks. Written:
<out>.json (per run: wall time, peak memory, generated tokens, the reward curve, held-out scores) and <out>.png
(the reward curves, mean over seeds, and the held-out averages). Without the seed runs: a clear message, exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from measure import OFFLINE_ENV, run_measured  # bench/measure.py: the script directory is on sys.path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, **OFFLINE_ENV}
# GRPO without dynamic sampling: its refills would generate more than PPO's 32 completions a step
ALGORITHMS = {"grpo": ["rlvr=grpo", "rlvr.dynamic_sampling=false"], "ppo": ["rlvr=ppo"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 2, 7])
    parser.add_argument("--from", dest="source", default="default")
    parser.add_argument("--out", default="docs/ppo_vs_grpo")
    parser.add_argument("--runs-dir", default="runs")
    args = parser.parse_args()
    runs = ROOT / args.runs_dir
    missing = [s for s in args.seeds if not (runs / f"{args.source}-s{s}" / "dpo" / "manifest.json").exists()]
    if missing:
        print(f'no DPO checkpoint for seeds {missing}: run `make pipeline SEEDS="{" ".join(map(str, args.seeds))}"`')
        return 1
    results = {}
    for algorithm, overrides in ALGORITHMS.items():
        for seed in args.seeds:
            run = f"ppo-vs-grpo-{algorithm}-s{seed}"
            common = [f"run_name={run}", f"seed={seed}", "logging=none"]
            parent = f"rlvr.parent={runs / f'{args.source}-s{seed}' / 'dpo'}"
            command = [sys.executable, "-m", "stages.rlvr", *common, *overrides, parent]
            _, wall, peak = run_measured(command, ENV, run)
            subprocess.run(
                [sys.executable, "-m", "eval.run", *common, "eval.stages=[rlvr]"], cwd=ROOT, env=ENV, check=True
            )
            manifest = json.loads((runs / run / "rlvr" / "manifest.json").read_text())
            scores = json.loads((runs / run / "eval" / "rlvr.json").read_text())
            heldout = {name: b["score"] for name, b in scores["benchmarks"].items()} | {"average": scores["average"]}
            results[f"{algorithm}-s{seed}"] = {
                "algorithm": algorithm,
                "seed": seed,
                "wall_s": wall,
                "peak_rss_mib": peak,
                "train_runtime_s": manifest["metrics"].get("train_runtime_s"),
                "num_tokens": manifest["metrics"].get("num_tokens"),
                "reward_curve": manifest["metrics"].get("reward_curve"),
                "heldout": heldout,
            }
            print(json.dumps({run: results[f"{algorithm}-s{seed}"]["heldout"]}))
    out = ROOT / args.out
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    plot(results, out.with_suffix(".png"))
    print(table(results))
    return 0


def table(results: dict) -> str:
    lines = [
        "| algorithm | held-out average (mean ± sd) | gsm8k | math | ifeval | wall (s) | peak RSS (MiB) | tokens |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for algorithm in ALGORITHMS:
        rows = [r for r in results.values() if r["algorithm"] == algorithm]

        def mean(key, rows=rows):
            return statistics.fmean(100 * r["heldout"][key] for r in rows)

        averages = [100 * r["heldout"]["average"] for r in rows]
        sd = statistics.stdev(averages) if len(averages) > 1 else 0.0
        lines.append(
            f"| {algorithm} | {statistics.fmean(averages):.1f} ± {sd:.1f} | {mean('gsm8k'):.1f} | {mean('math'):.1f} | "
            f"{mean('ifeval'):.1f} | {statistics.fmean(r['wall_s'] for r in rows):.0f} | "
            f"{statistics.fmean(r['peak_rss_mib'] for r in rows):.0f} | "
            f"{statistics.fmean(r['num_tokens'] or 0 for r in rows):.0f} |"
        )
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curves, bars) = plt.subplots(1, 2, figsize=(10, 3.6))
    for algorithm in ALGORITHMS:
        rows = [r for r in results.values() if r["algorithm"] == algorithm]
        steps = [step for step, _ in rows[0]["reward_curve"]]
        mean = [statistics.fmean(r["reward_curve"][i][1] for r in rows) for i in range(len(steps))]
        curves.plot(steps, mean, marker="o", markersize=3, label=f"{algorithm} (mean of {len(rows)} seeds)")
        averages = [100 * r["heldout"]["average"] for r in rows]
        position = list(ALGORITHMS).index(algorithm)
        bars.bar(position, statistics.fmean(averages), yerr=statistics.stdev(averages) if len(rows) > 1 else 0)
        bars.scatter([position] * len(averages), averages, color="black", s=10, zorder=3)
    curves.set_xlabel("step (32 completions each)")
    curves.set_ylabel("training reward (verifier x 10)")
    curves.legend(fontsize=8, frameon=False)
    bars.set_xticks(range(len(ALGORITHMS)), list(ALGORITHMS))
    bars.set_ylabel("held-out average (%), dots = seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
