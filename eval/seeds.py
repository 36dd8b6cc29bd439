"""Seeds as an axis: one run per seed, and what holds across them.

    make pipeline SEEDS="42 2 7"          (python -m stages.pipeline "seeds=[42,2,7]"): runs <run_name>-s42, ...
    make compare RUNS="default-seeds other-seeds"                      two seed groups, paired over seeds and prompts
    python -m eval.seeds "seeds=[42,2,7]"   each seed's report (eval/report.py), then the seeds report

runs/<run_name>-s<seed>/eval/<stage>.json and <stage>.generations.jsonl of every seed -> per stage and benchmark the
mean ± standard deviation across seeds, the per-seed table, and each stage against the one before it with a paired
test -> runs/<run_name>-seeds/report.md, report.png and seeds.json (the runs of the group, for `make compare`).

The paired test: each unit is one (seed, benchmark prompt) with the same prompt scored under both conditions (two
stages of one run, or the same seed of two groups); the statistic is the mean difference (for the average over
benchmarks, each benchmark weighs the same, as in the reports); its null distribution comes from flipping the sign
of every unit's difference at random (a two-sided sign-flip permutation test, 10,000 flips, seeded). A seed's
prompts are not independent of each other, so the p-value says whether the difference holds over these prompts and
these seeds; `seeds up` says whether every seed agrees. `fully right: gained / lost` counts the (seed, prompt) pairs
whose score is 1 (right; on IFEval every instruction followed; with samples, every sample) under B and not A, and
the other way: a mean change is their difference plus partial credit, and a large `lost` beside a small change says
the second condition trades answers rather than adds them.

The prompt-level test holds each seed's training fixed; a change that only alters float rounding draws every training
again and moves scores by the spread across seeds, which that test then calls significant. `p over seeds` counts that
noise: the seed is the unit, the statistic the mean of the per-seed changes, its null distribution every sign pattern
of those changes (exact, `seed_level_p`). With n seeds it cannot go below 2 / 2^n (0.25 for three): three seeds can
show a change holds over these prompts, not that it would survive another draw of the training.
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a command: a typo in the config fails here, before torch and TRL load
    from runtime.cli import check_command_line

    check_command_line()

import itertools
import json
import math
import statistics
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from eval import report
from runtime import cli, config, files, layout

TEST_NAME = "paired sign-flip permutation test over (seed, prompt) pairs, two-sided, 10,000 flips"
FLIPS = 10_000
SEED_TEST_NAME = "p over seeds: exact sign-flip test of the per-seed changes, at best 2 / 2^seeds"


def load_seed_run(run_dir: Path, suffix: str = "") -> dict[str, dict]:
    """stage -> its eval result (eval/report.load_results; suffix report.SAMPLED: the sampled pass@1 results) plus
    "prompts": {(benchmark, id): score}, a prompt's score the mean over its samples, for the stages of one run that
    have eval results."""
    stages = report.load_results(run_dir, suffix)
    for stage, result in stages.items():
        samples: dict[tuple[str, Any], list[float]] = {}
        generations = run_dir / "eval" / f"{stage}{suffix}.generations.jsonl"
        if generations.exists():
            for line in generations.read_text().splitlines():
                row = json.loads(line)
                samples.setdefault((row["benchmark"], row["id"]), []).append(float(row.get("score") or 0.0))
        result["prompts"] = {key: statistics.fmean(values) for key, values in samples.items()}
    return stages


def paired_test(pairs: list[tuple[str, float, float]], seed: int = 0) -> dict[str, float]:
    """pairs: (benchmark, score under A, score under B) per (seed, prompt). The mean difference B - A over
    benchmarks weighted equally, its 95% interval (normal approximation of the weighted mean), and the p-value of
    the sign-flip permutation test (`TEST_NAME`)."""
    import numpy as np

    benchmarks = sorted({name for name, _, _ in pairs})
    counts = {name: sum(1 for n, _, _ in pairs if n == name) for name in benchmarks}
    weights = np.array([1.0 / (len(benchmarks) * counts[name]) for name, _, _ in pairs])
    diffs = np.array([b - a for _, a, b in pairs])
    weighted = weights * diffs
    observed = float(weighted.sum())
    rng = np.random.default_rng(seed)
    extreme = 0
    for start in range(0, FLIPS, 1000):  # chunks: 1,000 x units signs at a time
        signs = rng.choice((-1.0, 1.0), size=(min(1000, FLIPS - start), len(weighted)))
        extreme += int((np.abs(signs @ weighted) >= abs(observed) - 1e-12).sum())
    # the variance of a weighted sum of independent differences, each benchmark's from its own differences
    names = np.array([name for name, _, _ in pairs])
    variance = 0.0
    for name in benchmarks:
        mine = names == name
        if counts[name] > 1:
            variance += float((weights[mine] ** 2).sum() * np.var(diffs[mine], ddof=1))
    half = 1.96 * math.sqrt(variance)
    return {"diff": observed, "low": observed - half, "high": observed + half, "p": (extreme + 1) / (FLIPS + 1)}


def seed_level_p(changes: list[float]) -> float:
    """Two-sided p of the exact sign-flip test over per-seed changes: the share of the 2^n sign patterns whose mean
    is at least as far from 0 as the observed one (all-zero changes: 1)."""
    observed = abs(sum(changes))
    patterns = itertools.product((-1.0, 1.0), repeat=len(changes))
    extreme = sum(abs(sum(s * c for s, c in zip(signs, changes))) >= observed - 1e-12 for signs in patterns)
    return extreme / 2 ** len(changes)


def prompt_pairs(runs_a: dict[int, dict], stage_a: str, runs_b: dict[int, dict], stage_b: str, benchmark: str | None):
    """(benchmark, score A, score B) for every prompt both scored, over the seeds both have."""
    pairs = []
    for seed in sorted(set(runs_a) & set(runs_b)):
        a = runs_a[seed].get(stage_a, {}).get("prompts", {})
        b = runs_b[seed].get(stage_b, {}).get("prompts", {})
        for key in sorted(set(a) & set(b), key=str):
            if benchmark is None or key[0] == benchmark:
                pairs.append((key[0], a[key], b[key]))
    return pairs


def fully_right_changes(pairs: list[tuple[str, float, float]]) -> tuple[int, int]:
    """(pairs fully right under B only, pairs fully right under A only): a score of 1 is fully right."""
    gained = sum(a < 1.0 <= b for _, a, b in pairs)
    lost = sum(b < 1.0 <= a for _, a, b in pairs)
    return gained, lost


def _score(run: dict, stage: str, benchmark: str) -> float | None:
    entry = run.get(stage)
    if entry is None:
        return None
    if benchmark == "average":
        return entry["average"]
    return (entry["benchmarks"].get(benchmark) or {}).get("score")


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _benchmarks(runs: dict[int, dict]) -> list[str]:
    names = dict.fromkeys(b for run in runs.values() for stage in run.values() for b in stage["benchmarks"])
    return [*names, "average"]


def _comparison_rows(runs_a, stage_a, runs_b, stage_b, benchmarks) -> list[str]:
    rows = []
    for name in benchmarks:
        pairs = prompt_pairs(runs_a, stage_a, runs_b, stage_b, None if name == "average" else name)
        if not pairs:
            continue
        test = paired_test(pairs)
        seeds = [s for s in runs_a if s in runs_b]  # in the order the group lists them
        deltas = {
            s: _score(runs_b[s], stage_b, name) - _score(runs_a[s], stage_a, name)
            for s in seeds
            if _score(runs_a[s], stage_a, name) is not None and _score(runs_b[s], stage_b, name) is not None
        }
        up = sum(delta > 0 for delta in deltas.values())
        gained, lost = fully_right_changes(pairs)
        rows.append(
            f"| {name} | {100 * test['diff']:+.1f} | [{100 * test['low']:+.1f}, {100 * test['high']:+.1f}] | "
            f"{test['p']:.4f}{' *' if test['p'] < 0.05 else ''} | {seed_level_p(list(deltas.values())):.2f} | "
            f"{up}/{len(deltas)} | {gained} / {lost} | "
            + ", ".join(f"{s}: {100 * d:+.1f}" for s, d in deltas.items())
            + " |"
        )
    return rows


COMPARISON_HEADER = [
    "| benchmark | mean change (points) | 95% interval | p | p over seeds | seeds up | fully right: gained / lost "
    "| change per seed |",
    "|---|---|---|---|---|---|---|---|",
]


def _mean_table(runs: dict[int, dict], seeds: list[int], stages: list[str], benchmarks: list[str]) -> list[str]:
    lines = ["| benchmark | " + " | ".join(stages) + " |", "|---|" + "---|" * len(stages)]
    for name in benchmarks:
        cells = []
        for stage in stages:
            values = [v for v in (_score(runs[s], stage, name) for s in seeds) if v is not None]
            mean, sd = _mean_sd([100 * v for v in values]) if values else (None, None)
            cells.append(f"{mean:.1f} ± {sd:.1f}" if values else "–")
        lines.append(f"| {'**average**' if name == 'average' else name} | " + " | ".join(cells) + " |")
    return lines


def _stage_comparisons(runs: dict[int, dict], stages: list[str], benchmarks: list[str]) -> list[str]:
    lines = []
    for before, after in zip(stages, stages[1:]):
        rows = _comparison_rows(runs, before, runs, after, benchmarks)
        if rows:
            lines += [
                "",
                f"{after} against {before} ({TEST_NAME}; * = p < 0.05; {SEED_TEST_NAME}):",
                "",
                *COMPARISON_HEADER,
                *rows,
            ]
    return lines


def write_report(cfg: DictConfig) -> tuple[Path, Path]:
    """runs/<run_name>-seeds/report.md, report.png and seeds.json from the seed runs of `cfg.seeds`."""
    seeds = list(cfg.seeds)
    names = {seed: layout.seed_run_name(cfg.run_name, seed) for seed in seeds}
    runs = {seed: load_seed_run(Path(cfg.runs_dir) / name) for seed, name in names.items()}
    missing = [names[s] for s, run in runs.items() if not run]
    if missing:
        raise SystemExit(f"no eval results in {', '.join(missing)} (under {cfg.runs_dir}): run them first")
    out = layout.seeds_dir(cfg)
    md, png = out / "report.md", out / "report.png"
    stages = [s for s in config.STAGE_ORDER if any(s in run for run in runs.values())]
    benchmarks = _benchmarks(runs)

    lines = [
        f"# Run `{cfg.run_name}` over {len(seeds)} seeds ({', '.join(map(str, seeds))}): {cfg.model.name}",
        "",
        "Held-out benchmark scores (%) after each stage: mean ± standard deviation across seeds.",
        "",
        *_mean_table(runs, seeds, stages, benchmarks),
        "",
        "![scores across stages and seeds](report.png)",
        "",
        "Per seed (%):",
        "",
        "| seed | stage | " + " | ".join(benchmarks) + " |",
        "|---|---|" + "---|" * len(benchmarks),
    ]
    for seed in seeds:
        for stage in stages:
            cells = [_score(runs[seed], stage, name) for name in benchmarks]
            lines.append(
                f"| {seed} | {stage} | " + " | ".join("–" if v is None else f"{100 * v:.1f}" for v in cells) + " |"
            )
    lines += _stage_comparisons(runs, stages, benchmarks)
    sampled = {seed: load_seed_run(Path(cfg.runs_dir) / name, report.SAMPLED) for seed, name in names.items()}
    if any(sampled.values()):
        samples = next(r for run in sampled.values() for r in run.values())["generation"]["num_samples"]
        lines += [
            "",
            f"## Sampled pass@1: {samples} answers per prompt at temperature 1 (eval.sampled_pass1)",
            "",
            "The share of sampled answers right (%): mean ± standard deviation across seeds.",
            "",
            *_mean_table(sampled, seeds, stages, benchmarks),
            *_stage_comparisons(sampled, stages, benchmarks),
        ]
    lines += ["", "Runs: " + ", ".join(f"`{name}`" for name in names.values())]
    files.write_text(md, "\n".join(lines) + "\n")
    plot(runs, stages, benchmarks, png)
    files.write_json(out / "seeds.json", {"run_name": cfg.run_name, "seeds": seeds, "runs": list(names.values())})
    return md, png


def plot(runs: dict[int, dict], stages: list[str], benchmarks: list[str], path: Path) -> None:
    """One panel per benchmark: the mean across seeds per stage with ± sd bars, each seed's score as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(benchmarks), figsize=(3.2 * len(benchmarks), 3.2), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], benchmarks):
        means, sds = [], []
        for x, stage in enumerate(stages):
            values = [100 * v for v in (_score(run, stage, name) for run in runs.values()) if v is not None]
            ax.scatter([x] * len(values), values, s=12, color="grey", alpha=0.7, zorder=3)
            mean, sd = _mean_sd(values) if values else (float("nan"), 0.0)
            means.append(mean)
            sds.append(sd)
        ax.errorbar(range(len(stages)), means, yerr=sds, marker="o", capsize=3)
        ax.set_xticks(range(len(stages)), stages)
        ax.set_title(name, fontsize=10)
        ax.set_ylim(0, 100)
    axes[0][0].set_ylabel("score (%), mean ± sd; dots = seeds")
    fig.tight_layout()
    with files.atomic(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def load_group(runs_dir: Path, name: str) -> dict[int, dict] | None:
    """A seed group (`<run_name>-seeds`, from write_report) as seed -> load_seed_run; None if `name` is not one."""
    manifest = Path(runs_dir) / name / "seeds.json"
    if not manifest.exists():
        return None
    group = json.loads(manifest.read_text())
    return {seed: load_seed_run(Path(runs_dir) / run) for seed, run in zip(group["seeds"], group["runs"])}


def compare_groups(groups: dict[str, dict[int, dict]]) -> str:
    """Markdown: per stage and benchmark each group's mean ± sd across seeds, and every later group against the
    first with the paired test over the seeds they share and the prompts both scored."""
    names = list(groups)
    first = groups[names[0]]
    stages = [s for s in config.STAGE_ORDER if any(s in run for g in groups.values() for run in g.values())]
    benchmarks = _benchmarks({i: run for i, run in enumerate(r for g in groups.values() for r in g.values())})
    lines = ["| stage | benchmark | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for stage in stages:
        for name in benchmarks:
            cells = []
            for group in groups.values():
                values = [100 * v for v in (_score(run, stage, name) for run in group.values()) if v is not None]
                cells.append("{:.1f} ± {:.1f}".format(*_mean_sd(values)) if values else "–")
            lines.append(f"| {stage} | {name} | " + " | ".join(cells) + " |")
    for other in names[1:]:
        shared = sorted(set(first) & set(groups[other]))
        if not shared:
            lines += ["", f"{other} against {names[0]}: no seed in common, so no paired test"]
            continue
        for stage in stages:
            rows = _comparison_rows(first, stage, groups[other], stage, benchmarks)
            if rows:
                lines += [
                    "",
                    f"{other} against {names[0]}, {stage} (seeds {', '.join(map(str, shared))}; {TEST_NAME}; "
                    f"* = p < 0.05; {SEED_TEST_NAME}):",
                    "",
                    *COMPARISON_HEADER,
                    *rows,
                ]
    return "\n".join(lines) + "\n"


def main(cfg: DictConfig) -> None:
    md, png = write_report(cfg)
    print(md.read_text())
    print(f"wrote {md} and {png}")


if __name__ == "__main__":
    cli.stage_main(report.main, over_seeds=main)()
