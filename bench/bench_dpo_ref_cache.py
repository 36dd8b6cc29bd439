"""What the reference log-probs cache saves: the same short DPO run three ways, each in its own process.

    .venv/bin/python bench/bench_dpo_ref_cache.py [--pairs 512] [--steps 16] [--hidden 256 --layers 8] [-- overrides]

  trl_default   dpo.precompute_ref_log_probs=false: TRL keeps a reference model in memory, one extra forward per step
  cache_cold    precompute_ref_log_probs=true, empty cache: one reference pass before training, saved to disk
  cache_warm    the same again: the reference log-probs are read from the cache, no reference forward at all

Prints wall time and peak RSS per process (os.wait4: the child's own rusage), and the stage's train time. The DPO
starts from the base checkpoint (dpo.parent=base, offline pairs), so no SFT run is needed; --hidden/--layers make the
embedded model bigger so the reference model's share of memory and time is visible.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from measure import OFFLINE_ENV, run_measured  # bench/measure.py: the script directory is on sys.path


def run_variant(name: str, overrides: list[str], env: dict) -> dict:
    command = [sys.executable, "-m", "stages.dpo", f"run_name={name}", *overrides]
    _, wall, peak_rss_mb = run_measured(command, env, name)
    return {"wall_s": wall, "peak_rss_mb": peak_rss_mb, "name": name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=512, help="preference pairs (embedded:preference_train)")
    parser.add_argument("--steps", type=int, default=16, help="DPO steps (batch 16)")
    parser.add_argument("--hidden", type=int, default=256, help="model.tiny.hidden_size")
    parser.add_argument("--layers", type=int, default=8, help="model.tiny.num_hidden_layers")
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides for every variant")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench_dpo_ref_cache_"))
    env = {
        **os.environ,
        **OFFLINE_ENV,
        "TQDM_DISABLE": "1",
    }
    common = [
        f"runs_dir={workdir / 'runs'}",
        "logging=none",
        "dpo.parent=base",
        "dpo.pairs=offline",
        f"data.preference.0.max_rows={args.pairs}",
        f"dpo.max_steps={args.steps}",
        "dpo.per_device_train_batch_size=16",
        f"model.tiny.hidden_size={args.hidden}",
        f"model.tiny.intermediate_size={3 * args.hidden}",
        f"model.tiny.num_hidden_layers={args.layers}",
        f"dpo.ref_logps_cache={workdir / 'ref_logps'}",
        *args.overrides,
    ]
    variants = [
        ("trl_default", ["dpo.precompute_ref_log_probs=false"]),
        ("cache_cold", ["dpo.precompute_ref_log_probs=true"]),
        ("cache_warm", ["dpo.precompute_ref_log_probs=true"]),
    ]
    print(
        f"DPO, {args.pairs} pairs, {args.steps} steps, tiny model hidden={args.hidden} layers={args.layers}; "
        f"work dir {workdir}"
    )
    rows = []
    for name, extra in variants:
        row = run_variant(name, [*common, *extra], env)
        metrics = json.loads((workdir / "runs" / name / "dpo" / "manifest.json").read_text())["metrics"]
        row.update(
            train_s=metrics["train_runtime_s"],
            cache=metrics["ref_logps_cache"].split(" ")[0],
            ref_logps_s=metrics.get("ref_logps_s"),
        )
        rows.append(row)
        print(f"  done: {name}", flush=True)

    print(f"\n{'variant':<12} {'wall s':>8} {'peak RSS MiB':>13} {'train s':>8} {'ref pass s':>11}  cache")
    for row in rows:
        ref = f"{row['ref_logps_s']:.1f}" if row["ref_logps_s"] is not None else "-"
        print(
            f"{row['name']:<12} {row['wall_s']:>8.1f} {row['peak_rss_mb']:>13.0f} {row['train_s']:>8.1f} {ref:>11}  "
            f"{row['cache']}"
        )
    base, warm = rows[0], rows[2]
    print(
        f"\ncache warm vs TRL default: {base['wall_s'] - warm['wall_s']:+.1f} s wall saved, "
        f"{base['peak_rss_mb'] - warm['peak_rss_mb']:+.0f} MiB peak RSS saved"
    )


if __name__ == "__main__":
    main()
