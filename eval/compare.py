"""Runs side by side: what changed between them and whether it mattered.

    python -m eval.compare [RUN ...] [runs_dir=runs] [out=runs/compare.md] [plot=runs/compare.png]
                                         [wandb=auto|on|off]
    make compare [RUNS="a b c"]

Reads the local run directories (works offline): runs/<run>/<stage>/manifest.json for the config each stage ran with,
its parent's identity, the environment it ran in and its wall time; runs/<run>/eval/<stage>.json for the scores. With a
W&B API key configured (wandb=auto) it also reads the W&B project of logging.project: runs only known there (trained
elsewhere) are added from their W&B runs (group = run name, job_type = stage or eval-<stage>, summary keys
eval/<benchmark>).

The table has one column per run and rows only for what differs: a stage trained in some runs only (one row, not one
per key of its section), each config value that differs among the runs that trained that stage, a stage trained
from a different parent checkpoint (by content), then every eval score as `score ± standard error` in points,
marked `*` where it differs from the first run's by more than the combined standard error sqrt(se_a² + se_b²), and
the wall times. Printed, written to <runs_dir>/compare.md, and with plot= drawn as grouped bars. Any argument that
is not one of the options above is a run name, as is (sweep runs: `default-dpo.beta:0.1`).

Seed groups (`make pipeline SEEDS="42 2 7"` writes runs/<run>-seeds/): `make compare RUNS="a-seeds b-seeds"` puts
each group's mean ± sd across seeds side by side and tests every later group against the first, paired over the
seeds both ran and the prompts both scored (eval/seeds.py names the test).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from eval import seeds
from runtime import files
from runtime.config import STAGE_ORDER, flatten
from runtime.tracking import wandb_api_key_configured

TRAINED = STAGE_ORDER[1:]
# Config keys that name where/how a run is stored or watched, not what it trained: never a "difference".
IGNORED = ("run_name", "runs_dir", "overwrite", "resume", "logging.", "eval.", "hydra.")
# Keys of a stage's section that say where a run is kept or watched; `parent` is compared by content instead.
LOCATION_KEYS = ("output_dir", "run_name", "logging_dir", "report_to", "parent", "ref_logps_cache")
OPTIONS = {
    "runs_dir": "runs",
    "out": None,
    "plot": None,
    "wandb": "auto",
    "logging.project": "tulu-pipeline",
    "logging.entity": None,
}


def load_run(run_dir: Path) -> dict[str, Any]:
    """One run as flat rows: {"config": {key: value}, "stages": {stage: parent id}, "eval": {"<stage>/<bench>":
    {"score", "stderr"}}, "time": {stage: s}}."""
    config, stages, scores, times = {}, {}, {}, {}
    for stage in TRAINED:
        manifest_path = run_dir / stage / "manifest.json"
        if not manifest_path.exists():
            continue
        manifest = json.loads(manifest_path.read_text())
        stages[stage] = manifest.get("parent_id") or manifest.get("parent")
        # A stage's section comes from its own manifest (it records only its own); model, data, seed and the
        # environment (library versions, CPU kernels, threads: they move the numbers too) from the first stage.
        recorded = {**(manifest.get("config") or {}), "environment": manifest.get("environment") or {}}
        for key, value in flatten(recorded).items():
            section, _, field = key.partition(".")
            if section == stage and field not in LOCATION_KEYS:
                config[key] = value
            elif section not in TRAINED and key not in config:
                config[key] = value
        times[stage] = manifest.get("wall_time_s") if manifest.get("status") == "complete" else manifest.get("status")
    for path in sorted((run_dir / "eval").glob("*.json")):
        result = json.loads(path.read_text())
        if "average" not in result:
            continue  # not a stage's result: e.g. the decontamination report
        stage = result.get("stage", path.stem)
        for bench, entry in result["benchmarks"].items():
            scores[f"{stage}/{bench}"] = {"score": entry.get("score"), "stderr": entry.get("stderr")}
        scores[f"{stage}/average"] = {"score": result.get("average"), "stderr": None}
        times[f"eval {stage}"] = result.get("wall_time_s")
    config = {k: v for k, v in config.items() if not k.startswith(IGNORED)}
    return {"config": config, "stages": stages, "eval": scores, "time": times}


def local_runs(runs_dir: Path, names: list[str] | None) -> dict[str, dict]:
    if names:
        missing = [n for n in names if not (runs_dir / n).is_dir()]
        if missing:
            print(f"[compare] not in {runs_dir} (looking in W&B only): {', '.join(missing)}", file=sys.stderr)
        candidates = [runs_dir / n for n in names if (runs_dir / n).is_dir()]
    else:
        candidates = sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    runs = {path.name: load_run(path) for path in candidates}
    return {name: run for name, run in runs.items() if run["config"] or run["eval"]}


def wandb_runs(api_runs, names: list[str] | None) -> dict[str, dict]:
    """Runs from W&B run objects (group = run name, job_type = stage | eval-<stage>), in load_run's shape."""
    runs: dict[str, dict] = {}
    for api_run in api_runs:
        name = api_run.group
        if not name or (names and name not in names):
            continue
        run = runs.setdefault(name, {"config": {}, "stages": {}, "eval": {}, "time": {}})
        summary = dict(api_run.summary)
        if api_run.job_type.startswith("eval-"):
            stage = api_run.job_type.removeprefix("eval-")
            for key, value in summary.items():
                bench, _, detail = key.removeprefix("eval/").partition("/")
                if key.startswith("eval/") and detail in ("", "stderr"):
                    entry = run["eval"].setdefault(f"{stage}/{bench}", {"score": None, "stderr": None})
                    entry["stderr" if detail else "score"] = value
        elif api_run.job_type in TRAINED:
            stage = api_run.job_type
            config = flatten(dict(api_run.config))
            run["stages"][stage] = config.get("parent_id")
            for key, value in config.items():
                section, _, field = key.partition(".")
                if key.startswith(IGNORED) or field in LOCATION_KEYS or key in ("parent_id", "config_hash"):
                    continue
                if section == stage or section not in TRAINED:
                    run["config"].setdefault(key, value)
            run["time"][stage] = summary.get("_runtime")
    return runs


def fetch_wandb(project: str, entity: str | None, names: list[str] | None) -> dict[str, dict]:
    import wandb

    api = wandb.Api()
    path = f"{entity or api.default_entity}/{project}"
    filters = {"group": {"$in": names}} if names else {}
    return wandb_runs(api.runs(path, filters=filters), names)


def differences(runs: dict[str, dict]) -> list[tuple[str, list[Any]]]:
    """Rows for what differs: stages trained in some runs only, then config values, then parents by content."""
    names = list(runs)
    rows: list[tuple[str, list[Any]]] = []
    for stage in TRAINED:
        present = [stage in runs[n]["stages"] for n in names]
        if any(present) and not all(present):
            rows.append((f"stage `{stage}`", ["trained" if p else "—" for p in present]))
    config_keys = sorted({k for run in runs.values() for k in run["config"]})
    for key in config_keys:
        section = key.split(".")[0]
        # A stage's keys are compared among the runs that trained it; the presence row above covers the others.
        having = [n for n in names if section not in TRAINED or section in runs[n]["stages"]]
        values = {n: runs[n]["config"].get(key, "—") for n in having}
        if len({json.dumps(v, sort_keys=True, default=str) for v in values.values()}) > 1:
            rows.append((f"`{key}`", [values.get(n, "—") for n in names]))
    for stage in TRAINED:
        parents = {n: runs[n]["stages"][stage] for n in names if stage in runs[n]["stages"]}
        if len(set(parents.values())) > 1:
            rows.append((f"`{stage}` trained from (parent id)", [parents.get(n, "—") for n in names]))
    return rows


def table(runs: dict[str, dict]) -> str:
    """Markdown: one column per run; rows = differences, eval scores (± s.e., * = beyond the combined error against
    the first run), wall times."""
    names = list(runs)
    rows = differences(runs)
    differ = bool(rows)
    eval_keys = sorted({k for run in runs.values() for k in run["eval"]}, key=_stage_order)
    for key in eval_keys:
        entries = [runs[n]["eval"].get(key) for n in names]
        rows.append((f"eval {key}", [_score_cell(entry, entries[0], index > 0) for index, entry in enumerate(entries)]))
    time_keys = sorted({k for run in runs.values() for k in run["time"]}, key=_stage_order)
    rows.extend((f"wall time (s) {key}", [runs[n]["time"].get(key, "—") for n in names]) for key in time_keys)
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {label} | " + " | ".join(_cell(v) for v in values) + " |" for label, values in rows]
    notes = []
    if not differ and len(names) > 1:
        notes.append("(no config differences between these runs)")
    if eval_keys and len(names) > 1:
        notes.append(
            f"Eval scores in points ± standard error; * = differs from {names[0]}'s by more than the combined "
            "standard error sqrt(se_a² + se_b²); about twice that is a meaningful change."
        )
    return "\n".join(lines) + "\n" + "".join(f"\n{note}\n" for note in notes)


def _score_cell(entry: dict | None, baseline: dict | None, compared: bool) -> str:
    if not entry or entry.get("score") is None:
        return "—"
    text = f"{100 * entry['score']:.1f}"
    if entry.get("stderr") is not None:
        text += f" ± {100 * entry['stderr']:.1f}"
    if (
        compared
        and baseline
        and baseline.get("score") is not None
        and None not in (entry.get("stderr"), baseline.get("stderr"))
    ):
        combined = math.hypot(entry["stderr"], baseline["stderr"])
        if abs(entry["score"] - baseline["score"]) > combined:
            text += " *"
    return text


def plot(runs: dict[str, dict], path: Path) -> None:
    """Grouped bars: one group per eval score (stage/benchmark), one bar per run, with standard-error whiskers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(runs)
    keys = sorted({k for run in runs.values() for k in run["eval"] if not k.endswith("/average")}, key=_stage_order)
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(min(14.0, max(6.0, 1.5 + 0.25 * len(keys) * len(names))), 4.0))
    for i, name in enumerate(names):
        entries = [runs[name]["eval"].get(k) or {} for k in keys]
        positions = [j + (i - (len(names) - 1) / 2) * width for j in range(len(keys))]
        scores = [100 * e["score"] if e.get("score") is not None else float("nan") for e in entries]  # nan: no bar
        ax.bar(positions, scores, width, yerr=[100 * (e.get("stderr") or 0.0) for e in entries], capsize=2, label=name)
    ax.set_xticks(range(len(keys)), keys, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("score (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title("eval scores per run (± s.e.)", fontsize=10)
    fig.tight_layout()
    with files.atomic(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def _stage_order(key: str) -> tuple:
    stage = key.removeprefix("eval ").split("/")[0]
    return (STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER), key.startswith("eval"), key)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def main(argv: list[str]) -> int:
    options, names = dict(OPTIONS), []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key in options:
            options[key] = value
        else:
            names.append(arg)  # a run name, `=` and all: sweep runs are named after their overrides
    runs_dir = Path(options["runs_dir"])
    groups = {name: seeds.load_group(runs_dir, name) for name in names}
    if names and all(groups.values()):  # seed groups (<run>-seeds): mean ± sd and the paired test over seeds
        text = seeds.compare_groups(groups)
        out = Path(options["out"] or runs_dir / "compare.md")
        files.write_text(out, f"# Seed groups compared ({', '.join(groups)})\n\n{text}")
        print(text)
        print(f"[compare] written to {out}")
        return 0
    if any(groups.values()):
        sys.exit("make compare: give only seed groups (<run>-seeds) or only runs, not both")
    runs = local_runs(runs_dir, names or None) if runs_dir.is_dir() else {}
    if options["wandb"] == "on" or (options["wandb"] == "auto" and wandb_api_key_configured()):
        try:
            for name, run in fetch_wandb(options["logging.project"], options["logging.entity"], names or None).items():
                runs.setdefault(name, run)  # the local run directory is the record; W&B fills in the rest
        except Exception as error:  # noqa: BLE001 (offline, no such project, API changes: local table still useful)
            print(f"[compare] W&B not read: {error}", file=sys.stderr)
    unknown = [n for n in names if n not in runs]
    if unknown:
        sys.exit(
            f"make compare: no run named {', '.join(map(repr, unknown))} in {runs_dir}"
            f"{' or W&B' if options['wandb'] != 'off' else ''} (options: {', '.join(OPTIONS)})"
        )
    if not runs:
        sys.exit(f"make compare: no runs with manifests or eval results in {runs_dir}")
    text = table(runs)
    out = Path(options["out"] or runs_dir / "compare.md")
    files.write_text(out, f"# Runs compared ({', '.join(runs)})\n\n{text}")
    print(text)
    print(f"[compare] written to {out}")
    if options["plot"]:
        plot(runs, Path(options["plot"]))
        print(f"[compare] plot written to {options['plot']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
