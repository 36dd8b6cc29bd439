"""Where an RLVR step's time goes: generation / reward (verifiers) / update, on the embedded tiny model.

    .venv/bin/python bench/bench_rlvr_step.py [--steps 6] [--parent base] [-- overrides]

Runs the real stage (stages.rlvr.run, GRPO from the tiny base model unless --parent names a
checkpoint) in a temporary
runs directory and prints the per-step means the stage logs (time/generation_s, time/reward_s, time/update_s, TRL's
step_time) and the reward's share of the step. The reward must not dominate: the verifiers run in a process pool
while the model does the heavy work. On a shared machine the figures move with the load; it is printed with them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from measure import OFFLINE_ENV, compose  # bench/measure.py: the script directory is on sys.path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
for key, value in OFFLINE_ENV.items():
    os.environ.setdefault(key, value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--parent", default="base", help="base, or a checkpoint directory (e.g. runs/<run>/sft)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. rlvr.max_completion_length=128")
    args = parser.parse_args()

    from runtime import console, layout
    from stages import rlvr

    with tempfile.TemporaryDirectory() as runs_dir:
        cfg = compose(
            [
                f"runs_dir={runs_dir}",
                "run_name=bench",
                "logging=none",
                f"rlvr.parent={args.parent}",
                f"rlvr.max_steps={args.steps}",
                "rlvr.logging_steps=1",
                "rlvr.log_completions=false",
                *args.overrides,
            ]
        )
        rlvr.run(cfg)
        metrics = layout.read_manifest(layout.stage_dir(cfg, "rlvr"))["metrics"]

    rows = {
        "generation s/step": metrics.get("mean_generation_s"),
        "reward s/step": metrics.get("mean_reward_s"),
        "other rollout s/step (log-probs)": metrics.get("mean_rollout_s", 0)
        - metrics.get("mean_generation_s", 0)
        - metrics.get("mean_reward_s", 0),
        "update s/step": metrics.get("mean_update_s"),
        "step s (TRL step_time)": metrics.get("mean_step_time"),
        "reward share of step": metrics.get("reward_share_of_step"),
        "completions per step": cfg.rlvr.per_device_train_batch_size,
        "load average (1 min)": os.getloadavg()[0],
    }
    console.print_summary(f"RLVR step time split ({args.steps} steps, parent={args.parent})", rows)


if __name__ == "__main__":
    main()
