"""What our SFT stage costs over TRL's own CLI: the same SFT run on the embedded default, done two ways.

    .venv/bin/python bench/bench_sft_vs_trl_cli.py [--steps 300] [--repeats 3] [--threads N]

  stage     python -m stages.sft runs_dir=<tmp> run_name=bench logging=none
                data.sft=[{path: 'embedded:sft_train'}]
            sft.max_steps=N sft.logging_steps=10  (the task rows only: one jsonl, as the CLI gets)
  trl_cli   .venv/bin/trl sft --config <tmp>/trl_sft.yaml: the same checkpoint (the tiny model from
            runtime.tiny.ensure_tiny_model), the same jsonl (data/embedded/sft_train.jsonl) and the same
            hyper-parameters as conf/sft/default.yaml (batch 16, lr 1.5e-3 cosine, warmup 0.05, assistant-only
            loss, no packing, fp32 on CPU, no activation checkpointing, no intermediate saves, seed 42), with what
            the CLI does by default for the rest: padded batches, TRL's chunked LM-head loss, `sdpa`. (Its
            `padding_free: true` is slower still on a CPU: `sdpa` then builds a tokens x tokens mask,
            runtime/attention.py.) The stage runs conf/sft/default.yaml as it is: padding-free batches with
            varlen_sdpa and the full-logits loss, the same loss.

Both get the same OMP_NUM_THREADS (--threads; default: every core, what torch takes in `make sft`). `trl sft` runs
the script through `accelerate launch`, which sets OMP_NUM_THREADS=1 in the training process when it is unset.

Each run is its own process; the two alternate (stage, trl_cli, stage, trl_cli, ...) so that a change in machine
load hits both alike. Prints per variant the median wall time, the median `train_runtime` the Trainer logs, the
peak RSS of the child (os.wait4; for `trl sft` the child is the launcher, whose rusage takes in the training
process it waited for) and the last logged loss, then per pair the speed-up, CLI / stage, in training throughput
(train_runtime: the same samples) and in wall time (Python start-up and tokenisation included), and their medians.
Both variants do the same work, so their final losses should agree: a warning says when they differ by over 10%.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from measure import OFFLINE_ENV, compose, run_measured  # bench/measure.py: the script directory is on sys.path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # the project's packages, imported from the repository root
TRL_CLI = Path(sys.executable).parent / "trl"  # the console script of the venv that runs this benchmark
SFT_DATA = REPO_ROOT / "data" / "embedded" / "sft_train.jsonl"


def tiny_model_path() -> Path:
    """Build (or find) the embedded default before any timing, so that neither variant pays for building it."""
    from runtime.tiny import ensure_tiny_model

    cfg = compose([])
    return ensure_tiny_model(cfg.model.tiny, seed=cfg.seed)


def trl_config(model: Path, output_dir: Path, steps: int) -> dict:
    """The CLI's YAML: conf/sft/default.yaml's fields, plus what stages/training.trainer_args sets on a CPU."""
    return {
        "model_name_or_path": str(model),
        "dtype": "float32",
        # The CLI reads a local jsonl through its dataset mixture (datasets.load_dataset("json", data_files=...)).
        "datasets": [{"path": "json", "data_files": str(SFT_DATA), "split": "train"}],
        "output_dir": str(output_dir),
        "max_steps": steps,
        "num_train_epochs": 1,
        "per_device_train_batch_size": 16,
        "gradient_accumulation_steps": 1,
        "learning_rate": 1.5e-3,
        "lr_scheduler_type": "cosine",
        "warmup_steps": 0.05,
        "weight_decay": 0.0,
        "max_length": 192,
        "assistant_only_loss": True,
        "packing": False,
        "activation_checkpointing": False,  # TRL's SFTConfig documents checkpointing on by default; off in ours
        "bf16": False,
        "fp16": False,
        "use_cpu": True,  # TRL defaults to bf16, ~600x slower than fp32 on our CPUs
        "logging_steps": 10,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 42,
    }


def run(command: list[str], env: dict) -> dict:
    output, wall, peak_rss_mb = run_measured(command, env, " ".join(command[:3]))

    # The Trainer prints its log dicts (values may be quoted strings) in both variants: parse the same text.
    def logged(key: str) -> float | None:
        values = re.findall(rf"'{key}': '?([0-9.eE+-]+)", output)
        return float(values[-1]) if values else None

    return {"wall_s": wall, "peak_rss_mb": peak_rss_mb, "train_s": logged("train_runtime"), "loss": logged("loss")}


def median(rows: list[dict], key: str) -> float | None:
    values = [row[key] for row in rows if row[key] is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps per run (batch 16)")
    parser.add_argument("--repeats", type=int, default=3, help="(stage, trl_cli) pairs")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="OMP_NUM_THREADS for both")
    args = parser.parse_args()

    began = time.time()
    env = {
        **os.environ,
        **OFFLINE_ENV,
        "TQDM_DISABLE": "1",
        "OMP_NUM_THREADS": str(args.threads),
    }
    model = tiny_model_path()
    workdir = Path(tempfile.mkdtemp(prefix="bench_sft_vs_trl_cli_"))
    print(
        f"SFT, {args.steps} steps x batch 16, {args.repeats} pairs, {args.threads} thread(s); model {model}; "
        f"work dir {workdir}",
        flush=True,
    )

    rows: dict[str, list[dict]] = {"stage": [], "trl_cli": []}
    for i in range(args.repeats):
        # A fresh runs_dir / output_dir each time: the stage skips a run that is already complete.
        stage = [
            sys.executable,
            "-m",
            "stages.sft",
            f"runs_dir={workdir / f'stage_{i}'}",
            "run_name=bench",
            "logging=none",
            "data.sft=[{path: 'embedded:sft_train'}]",
            f"sft.max_steps={args.steps}",
            "sft.logging_steps=10",
        ]
        config = workdir / f"trl_sft_{i}.yaml"
        config.write_text(yaml.safe_dump(trl_config(model, workdir / f"trl_cli_{i}", args.steps)))
        for name, command in (("stage", stage), ("trl_cli", [str(TRL_CLI), "sft", "--config", str(config)])):
            rows[name].append(run(command, env))
            print(f"  pair {i + 1}: {name:<8} {rows[name][-1]['wall_s']:.1f} s", flush=True)

    print(f"\n{'variant':<8} {'wall s':>8} {'train s':>8} {'peak RSS MiB':>13} {'final loss':>11}")
    for name, runs in rows.items():
        print(
            f"{name:<8} {median(runs, 'wall_s'):>8.1f} {fmt(median(runs, 'train_s'), '.1f'):>8} "
            f"{median(runs, 'peak_rss_mb'):>13.0f} {fmt(median(runs, 'loss'), '.4f'):>11}"
        )
    print()
    for key, what in (("train_s", "training throughput"), ("wall_s", "wall time")):
        ratios = [
            cli[key] / stage[key] for stage, cli in zip(rows["stage"], rows["trl_cli"]) if stage[key] and cli[key]
        ]
        if ratios:
            print(
                f"speed-up over trl sft, {what} (CLI / stage) per pair: {', '.join(f'{r:.2f}' for r in ratios)}; "
                f"median {statistics.median(ratios):.2f}x"
            )

    loss_a, loss_b = median(rows["stage"], "loss"), median(rows["trl_cli"], "loss")
    if loss_a is None or loss_b is None:
        print("warning: no logged loss found for a variant; cannot check that both did the same work")
    elif abs(loss_a - loss_b) > 0.1 * min(loss_a, loss_b):
        print(f"warning: final losses differ by more than 10% ({loss_a:.4f} vs {loss_b:.4f}): not the same work?")
    print(f"benchmark took {time.time() - began:.0f} s")


if __name__ == "__main__":
    main()
