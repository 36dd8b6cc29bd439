"""Tool use on the embedded default (docs/results.md, "Tool use"): the measured table of `+experiment=tools`.

    .venv/bin/python bench/experiment_tools.py [--run tools] [--seed 42]

Runs `python -m stages.pipeline +experiment=tools` (conf/experiment/tools.yaml; reused stage by stage when it has
run), timing it, then reads each stage's eval of the held-out word problems without tools (gsm8k) and with the
calculator (gsm8k_tools) from runs/<run>/eval/<stage>.generations.jsonl and prints, per stage:

  accuracy without / with tools (± s.e.), the share of answers that call, that are right *and* state the tool's
  result (correct tool use), failed calls per call, calls per answer, and the call rate on one-step and two-step
  problems (a second step reads "Then ..."); and RLVR against SFT on correct tool use, paired over the same prompts.

Greedy answers are near the ceiling from SFT on, so each stage's checkpoint is also evaluated the way RL samples it
(temperature 1, 4 samples a prompt, gsm8k_tools only: eval/<stage>_sampled.json), where what RL changed shows.

Writes docs/tools.json and docs/tools.png.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from measure import OFFLINE_ENV, REPO_ROOT, run_measured  # bench/measure.py: the script directory is on sys.path

sys.path.insert(0, str(REPO_ROOT))
DOCS = REPO_ROOT / "docs"
STAGES = ("base", "sft", "dpo", "rlvr")


def mean_se(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(variance / n)


SAMPLED = ["eval.temperature=1.0", "eval.num_samples=4"]
TOOLS_ONLY = 'eval.benchmarks=[{name: gsm8k_tools, path: "embedded:eval_gsm8k", tools: [calculator]}]'


def stage_figures(run_dir: Path, stage: str) -> dict:
    from rewards.tool_call import answer_uses_a_result

    rows = [json.loads(line) for line in (run_dir / "eval" / f"{stage}.generations.jsonl").read_text().splitlines()]
    plain = [r for r in rows if r["benchmark"] == "gsm8k"] or [{"score": float("nan")}]
    tools = [r for r in rows if r["benchmark"] == "gsm8k_tools"]

    correct_use = [float(r["score"] == 1.0 and answer_uses_a_result(r["transcript"])) for r in tools]
    two_step = [" Then " in r["question"] for r in tools]
    calls = sum(r["tool_calls"] for r in tools)
    figures = {
        "gsm8k": mean_se([r["score"] for r in plain]),
        "gsm8k_tools": mean_se([r["score"] for r in tools]),
        "call_rate": mean_se([float(r["tool_calls"] > 0) for r in tools]),
        "correct_tool_use": mean_se(correct_use),
        "error_rate": sum(r["tool_errors"] for r in tools) / calls if calls else 0.0,
        "calls_per_answer": calls / len(tools),
        "call_rate_one_step": mean_se([float(r["tool_calls"] > 0) for r, two in zip(tools, two_step) if not two]),
        "call_rate_two_step": mean_se([float(r["tool_calls"] > 0) for r, two in zip(tools, two_step) if two]),
        "accuracy_one_step": mean_se([r["score"] for r, two in zip(tools, two_step) if not two]),
        "accuracy_two_step": mean_se([r["score"] for r, two in zip(tools, two_step) if two]),
        "_correct_use_by_id": per_prompt([(r["id"], u) for r, u in zip(tools, correct_use)]),
    }
    return figures


def per_prompt(pairs: list[tuple[int, float]]) -> dict[int, float]:
    """id -> the mean over its samples."""
    by_id: dict[int, list[float]] = {}
    for prompt_id, value in pairs:
        by_id.setdefault(prompt_id, []).append(value)
    return {prompt_id: sum(values) / len(values) for prompt_id, values in by_id.items()}


def paired_difference(after: dict, before: dict) -> tuple[float, float]:
    """Mean and standard error of the per-prompt difference (the same prompts, so the s.e. is of the pairs)."""
    return mean_se([after[i] - before[i] for i in sorted(after)])


def pct(pair) -> str:
    return f"{100 * pair[0]:.1f} ± {100 * pair[1]:.1f}"


def table(out: dict) -> str:
    lines = [
        "Greedy (the eval suite's setting):",
        "",
        "| stage | gsm8k, no tools | gsm8k, calculator | calls | correct tool use | failed calls | calls/answer "
        "| calls, 1-step | calls, 2-step |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for stage, f in out["stages"].items():
        lines.append(
            f"| {stage} | {pct(f['gsm8k'])} | {pct(f['gsm8k_tools'])} | {pct(f['call_rate'])} "
            f"| {pct(f['correct_tool_use'])} | {100 * f['error_rate']:.1f}% | {f['calls_per_answer']:.2f} "
            f"| {pct(f['call_rate_one_step'])} | {pct(f['call_rate_two_step'])} |"
        )
    lines += [
        "",
        "Sampled as RL samples (temperature 1, 4 samples a prompt; s.e. over answers):",
        "",
        "| stage | gsm8k, calculator | calls | correct tool use | failed calls | calls/answer | calls, 1-step "
        "| calls, 2-step | accuracy, 1-step | accuracy, 2-step |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for stage, f in out["sampled"].items():
        lines.append(
            f"| {stage} | {pct(f['gsm8k_tools'])} | {pct(f['call_rate'])} | {pct(f['correct_tool_use'])} "
            f"| {100 * f['error_rate']:.1f}% | {f['calls_per_answer']:.2f} | {pct(f['call_rate_one_step'])} "
            f"| {pct(f['call_rate_two_step'])} | {pct(f['accuracy_one_step'])} | {pct(f['accuracy_two_step'])} |"
        )
    for label, key in (("greedy", "rlvr_minus_sft_correct_tool_use"), ("sampled", "sampled_rlvr_minus_sft")):
        diff, se = out[key]
        paired = f"paired over {out['n']} prompts"
        lines.append(f"RLVR - SFT, correct tool use, {label} ({paired}): {100 * diff:+.1f} ± {100 * se:.1f}")
    lines.append(f"pipeline wall time: {out['wall_s']:.0f} s")
    return "\n".join(lines)


def plot(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for panel, figures, keys, title in (
        (left, out["stages"], ("gsm8k", "gsm8k_tools", "correct_tool_use"), "greedy"),
        (right, out["sampled"], ("gsm8k_tools", "correct_tool_use", "call_rate_one_step", "call_rate_two_step"),
         "sampled as in RL (temperature 1)"),
    ):  # fmt: skip
        stages = list(figures)
        for key in keys:
            values = [100 * figures[s][key][0] for s in stages]
            errors = [100 * figures[s][key][1] for s in stages]
            panel.errorbar(stages, values, yerr=errors, marker="o", capsize=3, label=LABELS[key])
        panel.set_title(title)
        panel.set_ylabel("held-out word problems (%)")
        panel.set_ylim(0, 101)
        panel.legend(loc="lower right")
    fig.suptitle("Tool use on the embedded default (+experiment=tools)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


LABELS = {
    "gsm8k": "accuracy, no tools",
    "gsm8k_tools": "accuracy, calculator",
    "correct_tool_use": "correct tool use",
    "call_rate_one_step": "calls, one-step problems",
    "call_rate_two_step": "calls, two-step problems",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="tools")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    env = {**os.environ, **OFFLINE_ENV}
    command = [sys.executable, "-m", "stages.pipeline", "+experiment=tools", f"run_name={args.run}", "logging=none"]
    command.append(f"seed={args.seed}")
    _, wall, _ = run_measured(command, env, "pipeline +experiment=tools")
    run_dir = REPO_ROOT / "runs" / args.run
    stages = {stage: stage_figures(run_dir, stage) for stage in STAGES}
    for stage in STAGES[1:]:
        overrides = [f"eval.model={run_dir / stage}", f"eval.name={stage}_sampled", *SAMPLED, TOOLS_ONLY]
        eval_command = [sys.executable, "-m", "eval.run", "+experiment=tools", f"run_name={args.run}", "logging=none"]
        run_measured([*eval_command, f"seed={args.seed}", *overrides], env, f"sampled eval of {stage}")
    sampled = {stage: stage_figures(run_dir, f"{stage}_sampled") for stage in STAGES[1:]}
    out = {
        "run": args.run,
        "seed": args.seed,
        "wall_s": wall,
        "n": len(stages["sft"]["_correct_use_by_id"]),
        "rlvr_minus_sft_correct_tool_use": paired_difference(
            stages["rlvr"]["_correct_use_by_id"], stages["sft"]["_correct_use_by_id"]
        ),
        "sampled_rlvr_minus_sft": paired_difference(
            sampled["rlvr"]["_correct_use_by_id"], sampled["sft"]["_correct_use_by_id"]
        ),
        "stages": {s: {k: v for k, v in f.items() if not k.startswith("_")} for s, f in stages.items()},
        "sampled": {s: {k: v for k, v in f.items() if not k.startswith("_")} for s, f in sampled.items()},
    }
    print(table(out))
    DOCS.mkdir(exist_ok=True)
    (DOCS / "tools.json").write_text(json.dumps(out, indent=2) + "\n")
    plot(out, DOCS / "tools.png")
    print(f"wrote {DOCS / 'tools.json'} and {DOCS / 'tools.png'}")


if __name__ == "__main__":
    main()
