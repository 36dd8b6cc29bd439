"""Learned and dense rewards on the embedded default, side by side on one run's checkpoints (docs/results.md,
"Learned rewards and test-time compute"):

    .venv/bin/python bench/experiment_learned_rewards.py [--run default] [--steps 80] [--long-steps 240]

needs runs/<run>/{sft,dpo,rlvr} (`make pipeline`), then, each step in its own process and reused when its result is
already there (the stages reuse matching checkpoints, the eval up-to-date results):

  1. make rm                          the reward model from runs/<run>/sft, pairwise accuracy on held-out pairs
  2. best-of-N                        eval.num_samples=8 eval.temperature=0.8 of sft/dpo/rlvr in runs/<run>-sampled
                                      (links to the run's checkpoints): maj@k, pass@k, best-of-k per scorer
  3. RLHF vs RLVR                     from the same DPO checkpoint and steps: rlvr.reward=rm, rlvr.reward=both, against
                                      reward=verifier; held-out verifier scores
  4. outcome vs outcome + process     rlvr.process_reward=2 against 0, seeds 42 and 7, same steps, from the DPO
                                      checkpoint and from the SFT checkpoint
  5. over-optimisation                rlvr.reward=rm for --long-steps with the held-out watch every 20 steps, at two
                                      KL coefficients (rlvr.beta): RM reward against held-out verifier score

Every RL run is outcome-only (rlvr.process_reward=0, which the default pays since 2026-12-07) unless it sets the
process reward. Writes docs/learned_rewards.json and docs/learned_rewards.png, and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from measure import REPO_ROOT, run_stage  # bench/measure.py: the script directory is on sys.path

sys.path.insert(0, str(REPO_ROOT))
DOCS = REPO_ROOT / "docs"
BENCHMARKS = ("gsm8k", "math", "ifeval")
LONG_BETAS = (0.01, 0.1)
PROCESS_WEIGHT = 2.0


def scores(run_name: str, stage_name: str = "rlvr") -> dict[str, float]:
    result = json.loads((REPO_ROOT / "runs" / run_name / "eval" / f"{stage_name}.json").read_text())
    return {name: result["benchmarks"][name]["score"] for name in BENCHMARKS} | {"average": result["average"]}


def manifest(run_name: str, stage_name: str) -> dict:
    return json.loads((REPO_ROOT / "runs" / run_name / stage_name / "manifest.json").read_text())


def rl_from(parent: str, run: str, name: str, steps: int, *overrides: str) -> dict:
    """An RL run from runs/<run>/<parent> (with the run's reward model when the reward uses one), then its eval."""
    runs = REPO_ROOT / "runs"
    parents = [f"rlvr.parent={runs / run / parent}"]
    if any(o.startswith("rlvr.reward=") for o in overrides):
        parents.append(f"rlvr.reward_model={runs / run / 'rm'}")
    settings = [f"rlvr.max_steps={steps}", "rlvr.log_completions=false", "rlvr.process_reward=0", *overrides]
    run_stage("stages.rlvr", name, *parents, *settings, label=name)
    run_stage("eval.run", name, "eval.stages=[rlvr]", label=f"eval {name}")
    metrics = manifest(name, "rlvr")["metrics"]
    return {"scores": scores(name), "train_runtime_s": round(metrics["train_runtime_s"]), "metrics": metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="default")
    parser.add_argument("--steps", type=int, default=80, help="RL steps of the comparisons (the default rlvr's)")
    parser.add_argument("--long-steps", type=int, default=240, help="RL steps of the over-optimisation runs")
    args = parser.parse_args()
    run = args.run
    for needed in ("sft", "dpo", "rlvr"):
        if not (REPO_ROOT / "runs" / run / needed / "manifest.json").exists():
            sys.exit(f"runs/{run}/{needed} is missing: run `make pipeline` (run_name={run}) first")
    start = time.time()
    out: dict = {"run": run, "steps": args.steps, "long_steps": args.long_steps}

    # 1. The reward model.
    run_stage("stages.rm", run, label="rm")
    rm = manifest(run, "rm")["metrics"]
    kept = ("heldout_pairs", "heldout_pairwise_accuracy_before", "heldout_pairwise_accuracy", "train_runtime_s")
    out["rm"] = {key: rm[key] for key in kept}

    # 2. Best-of-N on the run's checkpoints (a sibling run directory of links, so the greedy results stay).
    sampled = REPO_ROOT / "runs" / f"{run}-sampled"
    sampled.mkdir(parents=True, exist_ok=True)
    for name in ("sft", "dpo", "rlvr", "rm"):
        link = sampled / name
        if not link.exists():
            link.symlink_to(REPO_ROOT / "runs" / run / name, target_is_directory=True)
    run_stage(
        "eval.run",
        sampled.name,
        "eval.stages=[sft,dpo,rlvr]",
        "eval.num_samples=8",
        "eval.temperature=0.8",
        label="sampled eval",
    )
    out["sampled"] = {
        stage_name: {
            name: {key: bench.get(key) for key in ("score", "maj_at_k", "pass_at_k", "best_of_n")}
            for name, bench in json.loads((sampled / "eval" / f"{stage_name}.json").read_text())["benchmarks"].items()
        }
        for stage_name in ("sft", "dpo", "rlvr")
    }

    # 3. RLHF vs RLVR from the same DPO checkpoint.
    run_stage("eval.run", run, "eval.stages=[dpo]", label="eval of the run")
    verifier = rl_from("dpo", run, f"{run}-rl-verifier", args.steps)
    out["rl"] = {"dpo (start)": {"scores": scores(run, "dpo")}, "verifier": verifier}
    out["rl"]["rm"] = rl_from("dpo", run, f"{run}-rl-rm", args.steps, "rlvr.reward=rm")
    out["rl"]["both"] = rl_from("dpo", run, f"{run}-rl-both", args.steps, "rlvr.reward=both")

    # 4. Outcome-only against outcome + process reward, two seeds.
    out["process"] = {
        "outcome seed 42": verifier,
        "outcome seed 7": rl_from("dpo", run, f"{run}-rl-seed7", args.steps, "rlvr.seed=7"),
    }
    for seed in (42, 7):
        process = [f"rlvr.seed={seed}", f"rlvr.process_reward={PROCESS_WEIGHT}"]
        out["process"][f"outcome+process seed {seed}"] = rl_from(
            "dpo", run, f"{run}-rl-process-seed{seed}", args.steps, *process
        )

    # 4b. The same from the SFT checkpoint, where the working is still often missing.
    out["process_from_sft"] = {}
    for seed in (42, 7):
        for weight in (0.0, PROCESS_WEIGHT):
            label = f"{'outcome+process' if weight else 'outcome'} seed {seed}"
            name = f"{run}-fromsft-w{weight:g}-seed{seed}"
            process = [f"rlvr.seed={seed}", f"rlvr.process_reward={weight:g}"]
            out["process_from_sft"][label] = rl_from("sft", run, name, args.steps, *process)

    # 5. Over-optimisation: the RM's reward for long, held-out verifier score watched.
    out["overoptimisation"] = {}
    for beta in LONG_BETAS:
        name = f"{run}-rm-long-beta{beta}"
        result = rl_from(
            "dpo",
            run,
            name,
            args.long_steps,
            "rlvr.reward=rm",
            f"rlvr.beta={beta}",
            "rlvr.heldout_eval_steps=20",
            "rlvr.heldout_eval_rows=100",
        )
        out["overoptimisation"][str(beta)] = {"scores": result["scores"], "history": result["metrics"]["heldout"]}

    out["invocation_wall_s"] = round(time.time() - start)  # reused steps take seconds
    for result in [*out["rl"].values(), *out["process"].values(), *out["process_from_sft"].values()]:
        result.pop("metrics", None)
    (DOCS / "learned_rewards.json").write_text(json.dumps(out, indent=1) + "\n")
    plot(out, DOCS / "learned_rewards.png")
    print(tables(out))


def tables(out: dict) -> str:
    rm = out["rm"]
    lines = [
        f"reward model: held-out pairwise accuracy {rm['heldout_pairwise_accuracy']:.3f} "
        f"(untrained head {rm['heldout_pairwise_accuracy_before']:.3f}, n={rm['heldout_pairs']})",
        "",
    ]
    groups = (
        ("RL reward (same DPO start, same steps)", out["rl"]),
        ("process reward (from DPO)", out["process"]),
        ("process reward (from SFT)", out["process_from_sft"]),
    )
    for title, group in groups:
        lines += [f"| {title} | " + " | ".join(BENCHMARKS) + " | average |", "|---" * (len(BENCHMARKS) + 2) + "|"]
        for name, result in group.items():
            s = result["scores"]
            lines.append(f"| {name} | " + " | ".join(f"{100 * s[b]:.1f}" for b in (*BENCHMARKS, "average")) + " |")
        lines.append("")
    lines += ["| sampled (k=8) | benchmark | score | maj@8 | pass@8 | best@8 process | best@8 rm |", "|---" * 7 + "|"]
    for stage_name, benches in out["sampled"].items():
        for name, b in benches.items():
            best = b.get("best_of_n") or {}
            cells = [
                b["score"],
                (b.get("maj_at_k") or {}).get("8"),
                b["pass_at_k"].get("8"),
                best.get("process", {}).get("8"),
                best.get("rm", {}).get("8"),
            ]
            text = ["–" if c is None else f"{100 * c:.1f}" for c in cells]
            lines.append(f"| {stage_name} | {name} | " + " | ".join(text) + " |")
    lines += ["", "| over-optimisation | step | RM reward (train) | held-out verifier score |", "|---|---|---|---|"]
    for beta, result in out["overoptimisation"].items():
        for point in result["history"]:
            reward = "–" if point["reward"] is None else f"{point['reward']:.3f}"
            lines.append(f"| beta {beta} | {point['step']} | {reward} | {100 * point['heldout']:.1f} |")
    return "\n".join(lines)


def plot(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, (beta, result) in enumerate(out["overoptimisation"].items()):
        points = [p for p in result["history"] if p["reward"] is not None]
        steps = [p["step"] for p in points]
        left.plot(steps, [p["reward"] for p in points], "-o", color=f"C{i}", label=f"RM reward, beta {beta}")
        heldout = result["history"]
        right.plot(
            [p["step"] for p in heldout],
            [100 * p["heldout"] for p in heldout],
            "-o",
            color=f"C{i}",
            label=f"held-out verifier score, beta {beta}",
        )
    left.set(title="what RL optimises: the reward model's score", xlabel="RL step", ylabel="mean RM reward (train)")
    right.set(title="what we want: held-out verifier score (greedy)", xlabel="RL step", ylabel="score (%)")
    for ax in (left, right):
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
