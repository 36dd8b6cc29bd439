"""What our stages cost against TRL's own CLI: the same SFT, DPO and GRPO runs on the embedded default, both ways.

    .venv/bin/python bench/bench_stages_vs_trl_cli.py [--stages sft dpo grpo] [--steps 300 40 10] [--repeats 3]
        [--threads N]

  sft  stage    python -m stages.sft runs_dir=<tmp> run_name=bench logging=none
                    data.sft=[{path: 'embedded:sft_train'}] sft.max_steps=N  (the task rows only: one jsonl, as the
                    CLI gets), conf/sft/default.yaml as it is: padding-free batches with varlen_sdpa and the
                    full-logits loss (stages/sft.py)
       trl_cli  .venv/bin/trl sft --config <tmp>/sft.yaml: the same checkpoint (the tiny model from
                    runtime.tiny.ensure_tiny_model), the same jsonl (data/embedded/sft_train.jsonl) and the same
                    hyper-parameters (batch 16, lr 1.5e-3 cosine, warmup 0.05, assistant-only loss, no packing, fp32
                    on CPU, no activation checkpointing, no intermediate saves, seed 42), and what the CLI does by
                    default for the rest: padded batches, TRL's chunked LM-head loss, `sdpa`. (Its `padding_free:
                    true` is slower still on a CPU: `sdpa` then builds a tokens x tokens mask, runtime/attention.py.)
  dpo  stage    python -m stages.dpo ... dpo.parent=<an SFT checkpoint> data.preference=[{path:
                    'embedded:preference_train'}] dpo.max_steps=N, conf/dpo/default.yaml as it is, its reference
                    log-prob cache in a fresh directory each run (cold: what a first run pays)
       trl_cli  .venv/bin/trl dpo --config <tmp>/dpo.yaml: the same checkpoint (a 300-step SFT of the tiny model,
                    trained once before the timings), the same jsonl and conf/dpo/default.yaml's hyper-parameters
                    (sigmoid_norm, beta 5, lr 5e-5 linear, warmup 0.1, batch 16, max_length 192, reference
                    log-probs precomputed in batches of 64, fp32, seed and data_seed 42); the stage computes
                    reference log-probs for the pairs its steps draw, the CLI for all of them
  grpo stage    python -m stages.rlvr ... rlvr.parent=<the same SFT checkpoint> data.rlvr=[{path:
                    'embedded:rlvr_train'}] rlvr.max_steps=N, conf/rlvr/grpo.yaml as it is (its policy and
                    reference log-prob passes padding-free: stages/rl/logps.PaddingFreeLogps)
       trl_cli  .venv/bin/trl grpo --config <tmp>/grpo.yaml: the same checkpoint, the rows the stage trains on (as
                    data/loading.load_rlvr gives them, written to <tmp>/rlvr.jsonl), the stage's reward
                    (bench/trl_cli_reward.py) and conf/rlvr/grpo.yaml's hyper-parameters (dapo, beta 0.01, epsilon
                    0.2, 8 generations at temperature 1, 96 new tokens at most, batch 32, lr 3e-5 constant, fp32)

Both get the same OMP_NUM_THREADS (--threads; default: every core, what torch takes in `make sft`). `trl` runs its
script through `accelerate launch`, which sets OMP_NUM_THREADS=1 in the training process when it is unset.

Each run is its own process; per stage the two alternate (stage, trl_cli, stage, trl_cli, ...) so that a change in
machine load hits both alike. Prints per variant the median wall time, the median `train_runtime` the Trainer
logs, the peak RSS of the child (os.wait4; for `trl` the child is the launcher, whose rusage takes in the training
process it waited for) and the last logged loss; then per pair the speed-up, CLI / stage, in wall time (the whole
command: Python start-up, tokenisation, DPO's reference pass) and in `train_runtime`, and their medians. Both
variants do the same work, so their final losses should agree: a warning says when they differ by over 10%.
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
DATA = {  # what the CLI reads; GRPO's rows are written by rlvr_rows
    "sft": REPO_ROOT / "data" / "embedded" / "sft_train.jsonl",
    "dpo": REPO_ROOT / "data" / "embedded" / "preference_train.jsonl",
}
RLVR_SOURCE = "{path: 'embedded:rlvr_train'}"  # the stage's data.rlvr, and the rows the CLI gets
STAGE_MODULES = {"sft": "sft", "dpo": "dpo", "grpo": "rlvr"}
CPU = {"bf16": False, "fp16": False, "use_cpu": True}  # TRL defaults to bf16, ~600x slower than fp32 on our CPUs


def tiny_model_path() -> Path:
    """Build (or find) the embedded default before any timing, so that neither variant pays for building it."""
    from runtime.tiny import ensure_tiny_model

    cfg = compose([])
    return ensure_tiny_model(cfg.model.tiny)


def cli_config(stage: str, model: Path, data: Path, output_dir: Path, steps: int) -> dict:
    """The CLI's YAML: the stage's conf file's fields, plus what stages/training.trainer_args sets."""
    common = {
        "model_name_or_path": str(model),
        "dtype": "float32",
        # The CLI reads a local jsonl through its dataset mixture (datasets.load_dataset("json", data_files=...)).
        "datasets": [{"path": "json", "data_files": str(data), "split": "train"}],
        "output_dir": str(output_dir),
        "max_steps": steps,
        "num_train_epochs": 1,
        "per_device_train_batch_size": 32 if stage == "grpo" else 16,
        "gradient_accumulation_steps": 1,
        "activation_checkpointing": False,  # TRL documents checkpointing on by default; off in ours
        "logging_steps": 10,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 42,
        **CPU,
    }
    if stage == "sft":
        return {
            **common,
            "learning_rate": 1.5e-3,
            "lr_scheduler_type": "cosine",
            "warmup_steps": 0.05,
            "weight_decay": 0.0,
            "max_length": 192,  # the rows are <= 166 tokens: nothing is cut
            "assistant_only_loss": True,
            "packing": False,
        }
    if stage == "grpo":
        return {
            **common,
            "reward_funcs": ["bench.trl_cli_reward.verifiable"],
            "loss_type": "dapo",
            "beta": 0.01,
            "epsilon": 0.2,
            "num_generations": 8,
            "temperature": 1.0,
            "max_completion_length": 96,
            "scale_rewards": "group",
            "mask_truncated_completions": False,
            "learning_rate": 3.0e-5,
            "lr_scheduler_type": "constant",
            "warmup_steps": 0,
            "logging_steps": 5,
        }
    return {
        **common,
        "loss_type": ["sigmoid_norm"],
        "beta": 5.0,
        "learning_rate": 5.0e-5,
        "lr_scheduler_type": "linear",
        "warmup_steps": 0.1,
        "max_length": 192,
        "precompute_ref_log_probs": True,
        "precompute_ref_batch_size": 64,
        "data_seed": 42,
    }


def stage_command(stage: str, runs_dir: Path, steps: int, parent: Path | None) -> list[str]:
    module = STAGE_MODULES[stage]
    command = [sys.executable, "-m", f"stages.{module}", f"runs_dir={runs_dir}", "run_name=bench", "logging=none"]
    if stage == "sft":
        return [*command, "data.sft=[{path: 'embedded:sft_train'}]", f"sft.max_steps={steps}", "sft.logging_steps=10"]
    if stage == "grpo":
        return [
            *command,
            f"rlvr.parent={parent}",
            f"data.rlvr=[{RLVR_SOURCE}]",
            f"rlvr.max_steps={steps}",
        ]
    return [
        *command,
        f"dpo.parent={parent}",
        "data.preference=[{path: 'embedded:preference_train'}]",
        f"dpo.max_steps={steps}",
        f"dpo.ref_logps_cache={runs_dir / 'ref_logps'}",  # fresh: a cold cache, as on a first run
    ]


def sft_parent(workdir: Path, env: dict) -> Path:
    """A 300-step SFT checkpoint of the tiny model for DPO and GRPO to start from, trained once, before any timing."""
    parent = workdir / "parent" / "bench" / "sft"
    if not parent.exists():
        run_measured(stage_command("sft", workdir / "parent", 300, None), env, "the parent SFT run")
    return parent


def rlvr_rows(path: Path) -> Path:
    """The rows the RLVR stage trains on, as its loader gives them (prompt, ground_truth, dataset), for the CLI."""
    from data.loading import load_rlvr

    load_rlvr(yaml.safe_load(f"[{RLVR_SOURCE}]")).to_json(str(path))
    return path


def run(command: list[str], env: dict) -> dict:
    output, wall, peak_rss_mb = run_measured(command, env, " ".join(command[:3]))

    # The Trainer prints its log dicts (values may be quoted strings) in both variants: parse the same text.
    def logged(key: str) -> float | None:
        values = re.findall(rf"'{key}': '?([0-9.eE+-]+)", output)
        return float(values[-1]) if values else None

    return {
        "wall_s": wall,
        "peak_rss_mb": peak_rss_mb,
        "train_s": logged("train_runtime"),
        "loss": logged("loss"),
        "reward": logged("reward"),  # GRPO: the mean reward of the last logged steps
    }


def median(rows: list[dict], key: str) -> float | None:
    values = [row[key] for row in rows if row[key] is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def compare(stage: str, steps: int, repeats: int, model: Path, workdir: Path, env: dict) -> None:
    parent = sft_parent(workdir, env) if stage in ("dpo", "grpo") else None
    if stage == "grpo":
        data = rlvr_rows(workdir / "rlvr.jsonl")
        env = {**env, "BENCH_TRL_CLI_MODEL": str(parent)}
    else:
        data = DATA[stage]
    batch = cli_config(stage, model, data, workdir, steps)["per_device_train_batch_size"]
    print(f"\n{stage}: {steps} steps x batch {batch}, {repeats} pairs", flush=True)
    rows: dict[str, list[dict]] = {"stage": [], "trl_cli": []}
    for i in range(repeats):
        # A fresh runs_dir / output_dir each time: the stage skips a run that is already complete.
        config = workdir / f"{stage}_{i}.yaml"
        config.write_text(yaml.safe_dump(cli_config(stage, parent or model, data, workdir / f"{stage}_cli_{i}", steps)))
        commands = {
            "stage": stage_command(stage, workdir / f"{stage}_stage_{i}", steps, parent),
            "trl_cli": [str(TRL_CLI), stage, "--config", str(config)],  # run in the repository root (run_measured)
        }
        for name, command in commands.items():
            rows[name].append(run(command, env))
            print(f"  pair {i + 1}: {name:<8} {rows[name][-1]['wall_s']:.1f} s", flush=True)

    print(f"{'variant':<8} {'wall s':>8} {'train s':>8} {'peak RSS MiB':>13} {'final loss':>11} {'final reward':>13}")
    for name, runs in rows.items():
        print(
            f"{name:<8} {median(runs, 'wall_s'):>8.1f} {fmt(median(runs, 'train_s'), '.1f'):>8} "
            f"{median(runs, 'peak_rss_mb'):>13.0f} {fmt(median(runs, 'loss'), '.4f'):>11} "
            f"{fmt(median(runs, 'reward'), '.3f'):>13}"
        )
    for key, what in (("wall_s", "wall time"), ("train_s", "train_runtime")):
        ratios = [cli[key] / ours[key] for ours, cli in zip(rows["stage"], rows["trl_cli"]) if ours[key] and cli[key]]
        if ratios:
            print(
                f"{stage} speed-up over trl {stage}, {what} (CLI / stage) per pair: "
                f"{', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}x"
            )
    loss_a, loss_b = median(rows["stage"], "loss"), median(rows["trl_cli"], "loss")
    if loss_a is None or loss_b is None:
        print("warning: no logged loss found for a variant; cannot check that both did the same work")
    elif abs(loss_a - loss_b) > 0.1 * min(abs(loss_a), abs(loss_b)):
        print(f"warning: final losses differ by more than 10% ({loss_a:.4f} vs {loss_b:.4f}): not the same work?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", nargs="+", choices=tuple(STAGE_MODULES), default=list(STAGE_MODULES))
    parser.add_argument("--steps", type=int, nargs="+", default=[300, 40, 10], help="optimizer steps, per stage")
    parser.add_argument("--repeats", type=int, default=3, help="(stage, trl_cli) pairs")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="OMP_NUM_THREADS for both")
    args = parser.parse_args()
    if len(args.steps) != len(args.stages):
        parser.error("--steps takes one number per stage in --stages")

    began = time.time()
    env = {**os.environ, **OFFLINE_ENV, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": str(args.threads)}
    model = tiny_model_path()
    workdir = Path(tempfile.mkdtemp(prefix="bench_stages_vs_trl_cli_"))
    print(f"{args.threads} thread(s); model {model}; work dir {workdir}", flush=True)
    for stage, steps in zip(args.stages, args.steps):
        compare(stage, steps, args.repeats, model, workdir, env)
    print(f"\nbenchmark took {time.time() - began:.0f} s")


if __name__ == "__main__":
    main()
