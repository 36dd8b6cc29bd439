"""The run's report: the eval table across stages (with deltas) in report.md and the same numbers in report.png.

python -m eval.report [run_name=...]      (the pipeline calls write_report at the end)
(with seeds=[...]: python -m eval.seeds, each seed's report and then the seeds report)
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a command: a typo in the config fails here, before torch and TRL load
    from runtime.cli import check_command_line

    check_command_line()

import json
from pathlib import Path

from omegaconf import DictConfig

from runtime import cli, config, files, layout, tracking

SAMPLED = ".sampled"  # eval/<stage>.sampled.json: the checkpoint's answers sampled at T = 1 (eval.sampled_pass1)


def load_results(run_dir: Path, suffix: str = "") -> dict[str, dict]:
    """stage -> <run_dir>/eval/<stage><suffix>.json, in pipeline order (base, sft, dpo, rlvr), for the stages that
    have one; suffix ".sampled" (eval/run.py's SAMPLED) reads the sampled pass@1 results."""
    eval_dir = run_dir / "eval"
    return {
        stage: json.loads((eval_dir / f"{stage}{suffix}.json").read_text())
        for stage in config.STAGE_ORDER
        if (eval_dir / f"{stage}{suffix}.json").exists()
    }


def markdown_table(results: dict[str, dict]) -> str:
    """Benchmarks x stages: score ± standard error (in points), and the change from the previous stage."""
    stages = list(results)
    benchmarks = list(dict.fromkeys(name for r in results.values() for name in r["benchmarks"]))
    header = ["benchmark (n)", *stages]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in [*benchmarks, "average"]:
        cells, previous = [], None
        for stage in stages:
            entry = (
                results[stage]["benchmarks"].get(name) if name != "average" else {"score": results[stage]["average"]}
            )
            if entry is None or entry.get("score") is None:
                cells.append("–")
                continue
            value = 100 * entry["score"]
            cell = f"{value:.1f}" + (f" ± {100 * entry['stderr']:.1f}" if "stderr" in entry else "")
            if previous is not None:
                cell += f" ({value - previous:+.1f})"
            cells.append(cell)
            previous = value
        n = next((r["benchmarks"][name]["n"] for r in results.values() if name in r["benchmarks"]), None)
        label = f"{name} ({n})" if n else f"**{name}**"
        lines.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(lines)


def sampled(results: dict[str, dict]) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """benchmark -> stage -> {"maj@k" | "pass@k" | "best@k (<scorer>)": {k: score}}, for the results scored with
    several samples per prompt (eval.num_samples > 1): accuracy versus k."""
    curves: dict = {}
    for stage, result in results.items():
        for name, bench in result["benchmarks"].items():
            measures = {"maj@k": bench.get("maj_at_k"), "pass@k": bench.get("pass_at_k")}
            measures.update({f"best@k ({scorer})": v for scorer, v in (bench.get("best_of_n") or {}).items()})
            for label, values in measures.items():
                if values and len(values) > 1:
                    curves.setdefault(name, {}).setdefault(stage, {})[label] = values
    return curves


def sampled_table(curves: dict) -> str:
    """One row per benchmark, stage and measure, one column per k (in points)."""
    ks = sorted({int(k) for stages in curves.values() for c in stages.values() for v in c.values() for k in v})
    lines = ["| benchmark | stage | measure | " + " | ".join(f"k={k}" for k in ks) + " |", "|" + "---|" * (3 + len(ks))]
    for name, stages in curves.items():
        for stage, measures in stages.items():
            for label, values in measures.items():
                cells = [f"{100 * values[str(k)]:.1f}" if str(k) in values else "–" for k in ks]
                lines.append(f"| {name} | {stage} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict[str, dict], curves: dict, path: Path) -> None:
    """Grouped bars: one group per benchmark, one bar per stage, with standard-error whiskers; with several samples
    per prompt (`curves`, from `sampled`), a row of accuracy-versus-k curves below (maj@k solid, pass@k dashed,
    best-of-k dotted, one colour per stage)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = list(results)
    benchmarks = list(dict.fromkeys(name for r in results.values() for name in r["benchmarks"]))
    width = 0.8 / max(len(stages), 1)
    figure_width = max(5.0, 1.8 + 1.6 * len(benchmarks), 3.2 * len(curves))
    if curves:
        fig = plt.figure(figsize=(figure_width, 6.8))
        grid = fig.add_gridspec(2, len(curves))
        ax = fig.add_subplot(grid[0, :])
        colours = {stage: f"C{i}" for i, stage in enumerate(stages)}
        for column, (name, by_stage) in enumerate(curves.items()):
            curve_ax = fig.add_subplot(grid[1, column])
            for stage, measures in by_stage.items():
                for label, values in measures.items():
                    style = {"maj@k": "-", "pass@k": "--"}.get(label, ":")
                    marker = "s" if label == "best@k (rm)" else "o"
                    ks = sorted(int(k) for k in values)
                    scores = [100 * values[str(k)] for k in ks]
                    curve_ax.plot(ks, scores, style, marker=marker, color=colours[stage], label=f"{stage} {label}")
            curve_ax.set_xscale("log", base=2)
            ks = sorted({int(k) for measures in by_stage.values() for values in measures.values() for k in values})
            curve_ax.set_xticks(ks, [str(k) for k in ks])
            curve_ax.set_title(f"{name}: accuracy vs k", fontsize=9)
            curve_ax.set_xlabel("samples k")
            curve_ax.set_ylim(0, 100)
            curve_ax.legend(fontsize=6, frameon=False)
    else:
        fig, ax = plt.subplots(figsize=(figure_width, 3.6))
    for i, stage in enumerate(stages):
        scores = [100 * results[stage]["benchmarks"].get(b, {}).get("score", 0.0) for b in benchmarks]
        errors = [100 * results[stage]["benchmarks"].get(b, {}).get("stderr", 0.0) for b in benchmarks]
        positions = [j + (i - (len(stages) - 1) / 2) * width for j in range(len(benchmarks))]
        ax.bar(positions, scores, width, yerr=errors, capsize=2, label=stage)
    ax.set_xticks(range(len(benchmarks)), benchmarks)
    ax.set_ylabel("score (%)")
    ax.set_ylim(0, 100)
    ax.legend(ncols=len(stages), loc="upper left", frameon=False)
    ax.set_title("held-out scores after each stage (± s.e.)", fontsize=10)
    fig.tight_layout()
    with files.atomic(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def write_report(cfg: DictConfig, timings: dict[str, str] | None = None) -> tuple[Path, Path]:
    """runs/<run_name>/report.md + report.png from the eval results; also logged to W&B when logging=wandb."""
    results = load_results(layout.run_dir(cfg))
    if not results:
        raise SystemExit(f"no eval results in {layout.run_dir(cfg) / 'eval'}: run `make eval` first")
    run = layout.run_dir(cfg)
    md, png = run / "report.md", run / "report.png"
    curves = sampled(results)
    plot(results, curves, png)
    parts = [
        f"# Run `{cfg.run_name}`: {cfg.model.name}",
        "",
        "Held-out benchmark scores (%) after each stage: score ± standard error (change from the previous stage).",
        "A change is meaningful when it exceeds about twice the combined standard error, sqrt(se_a² + se_b²).",
        "",
        markdown_table(results),
        "",
        "![scores across stages](report.png)",
        "",
        "Checkpoints: "
        + ", ".join(
            f"{stage} = `{layout.display_path(r['model'], cfg)}`"
            + (f" (id {r['checkpoint_id']})" if r.get("checkpoint_id") else "")
            for stage, r in results.items()
        ),
    ]
    sampled_results = load_results(run, SAMPLED)
    if sampled_results:
        samples = next(iter(sampled_results.values()))["generation"]["num_samples"]
        parts += [
            "",
            f"Sampled pass@1 (%): {samples} answers per prompt at temperature 1 (eval.sampled_pass1), the share "
            "right ± standard error over prompts (change from the previous stage).",
            "",
            markdown_table(sampled_results),
        ]
    if curves:
        parts += [
            "",
            "Sampled (eval.num_samples > 1), accuracy (%) versus the number of samples k: maj@k = the most frequent "
            "final answer among k samples (self-consistency), pass@k = at least one of k fully right, best@k (scorer) "
            "= the sample a ground-truth-free scorer ranks first (process: the step checker; rm: the reward model).",
            "",
            sampled_table(curves),
        ]
    if timings:
        parts += ["", "| step | wall time |", "|---|---|", *(f"| {k} | {v} |" for k, v in timings.items())]
    checked = next(
        (r["decontamination"] for r in reversed(results.values()) if r.get("decontamination", {}).get("limits")), None
    )
    if checked:
        parts += [
            "",
            "Decontamination (share of each benchmark's prompts overlapping the training data, its limit and "
            "the rule that set it): "
            + "; ".join(
                f"{name} {100 * checked['contaminated'][name]:.1f}% (limit {100 * limit['max_contaminated']:.0f}%, "
                f"`{limit['rule']}`)"
                for name, limit in checked["limits"].items()
            ),
        ]
    flagged = sorted({f for r in results.values() for f in r.get("decontamination", {}).get("flagged", [])})
    if flagged:
        parts += ["", "**Contamination flagged:**", *(f"- {f}" for f in flagged)]
    files.write_text(md, "\n".join(parts) + "\n")
    log_to_wandb(cfg, results, png)
    return md, png


def log_to_wandb(cfg: DictConfig, results: dict[str, dict], png: Path) -> None:
    if cfg.logging.backend != "wandb":
        return
    import wandb

    tracking.init_tracking(cfg, "report", config.shared_config(cfg))
    benchmarks = list(dict.fromkeys(name for r in results.values() for name in r["benchmarks"]))
    table = wandb.Table(columns=["stage", *benchmarks, "average"])
    for stage, result in results.items():
        table.add_data(stage, *(result["benchmarks"].get(b, {}).get("score") for b in benchmarks), result["average"])
    wandb.log({"report/scores": table, "report/plot": wandb.Image(str(png))})
    tracking.finish_tracking(cfg, {})


def main(cfg: DictConfig) -> None:
    md, png = write_report(cfg)
    print(md.read_text())
    print(f"wrote {md} and {png}")


if __name__ == "__main__":
    cli.stage_main(main)()
