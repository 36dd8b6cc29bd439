"""Around TRL's trainers: a stage's TRL config object built once from its section (`trainer_args`, the trainer's
`args`), training with resume from the newest complete intermediate checkpoint, and the figures a manifest records."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from runtime import config, devices
from runtime.checkpoints import StageRecord
from runtime.files import write_json
from runtime.layout import work_dir


def trainer_args(cfg: DictConfig, stage: str):
    """(our options, the TRL config object) of a stage, built once from its section: the section's TRL fields plus
    what the pipeline decides (where to write, W&B, precision on this machine). The object is the trainer's `args`,
    and what the manifest and W&B record (`StageRecord.config`)."""
    import torch

    options, kwargs = config.split_section(stage, cfg[stage])
    config_cls = config.trainer_config_class(stage, options)
    if not devices.accelerator_available():
        # TRL defaults bf16 to True; bf16 matmuls on our CPUs are ~600x slower than fp32, so CPU runs are fp32.
        if kwargs.get("bf16") or cfg.model.dtype in ("bfloat16", "float16"):
            print("warning: bf16 on a CPU-only machine is ~600x slower than fp32; computing in fp32", file=sys.stderr)
        kwargs.update(bf16=False, fp16=False, use_cpu=True)
    else:
        # The compute precision (model.dtype) is autocast over the fp32 weights (runtime/devices.py), unless the
        # section says otherwise.
        dtype = devices.compute_dtype(cfg)
        kwargs.setdefault("bf16", dtype == torch.bfloat16)
        kwargs.setdefault("fp16", dtype == torch.float16)
    args = config_cls(
        output_dir=str(work_dir(cfg, stage)),
        run_name=f"{cfg.run_name}-{stage}",
        report_to=["wandb"] if cfg.logging.backend == "wandb" else "none",
        **kwargs,
    )
    return options, args


def train(trainer, cfg: DictConfig, record: StageRecord):
    """trainer.train(), resuming from the newest complete intermediate checkpoint of this stage when resume=auto.

    The work directory remembers the parent and config its checkpoints were trained with: after a change they are
    not resumed from (a run with another learning rate would silently continue the old one) but removed, as with
    resume=never, so their step numbers cannot shadow the new run's checkpoints."""
    work = work_dir(cfg, record.stage)
    lineage = {"parent_id": record.parent_id, "config_hash": record.config_hash()}
    checkpoint, start_over = None, cfg.resume == "never"
    if cfg.resume == "auto":
        checkpoint = latest_checkpoint(work)
        saved = work / "lineage.json"
        if checkpoint and saved.exists() and json.loads(saved.read_text()) != lineage:
            print(f"[{record.stage}] {work} holds checkpoints of another parent or config; starting from step 0")
            checkpoint, start_over = None, True
    elif cfg.resume != "never":
        checkpoint = cfg.resume
    trainer.accelerator.wait_for_everyone()  # every rank has decided before the main one changes the directory
    if trainer.is_world_process_zero():
        for stale in work.glob("checkpoint-*") if start_over else ():
            shutil.rmtree(stale)
        write_json(work / "lineage.json", lineage)
    trainer.accelerator.wait_for_everyone()
    if checkpoint:
        step = json.loads((Path(checkpoint) / "trainer_state.json").read_text())["global_step"]
        print(f"[{record.stage}] resuming from {checkpoint} (step {step})")
        record.metrics.update(resumed_from=str(checkpoint), resumed_from_step=step)
    return trainer.train(resume_from_checkpoint=checkpoint)


def latest_checkpoint(directory: Path) -> str | None:
    """The newest complete `checkpoint-N`: the Trainer writes trainer_state.json after the weights, optimizer and
    RNG states, so a checkpoint whose trainer_state.json parses and names step N was fully written.

    Not transformers' `get_last_checkpoint`: the Trainer writes `checkpoint-N` in place, and that returns the
    highest-numbered directory even when the run was killed while writing it (tests/test_resume.py shows both)."""
    complete = []
    for path in Path(directory).glob("checkpoint-*"):
        step = path.name.removeprefix("checkpoint-")
        try:
            state = json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue  # killed before (or while) the Trainer wrote its state: incomplete
        if step.isdigit() and state.get("global_step") == int(step):
            complete.append((int(step), path))
    return str(max(complete)[1]) if complete else None


def loss_trajectory(log_history: list[dict], key: str = "loss") -> list[float]:
    return [entry[key] for entry in log_history if key in entry]


def training_metrics(trainer, result) -> dict[str, Any]:
    """The figures every stage's manifest records about its training run."""
    losses = loss_trajectory(trainer.state.log_history)
    tokens = loss_trajectory(trainer.state.log_history, "num_tokens")  # TRL logs the running total
    model = trainer.accelerator.unwrap_model(trainer.model)
    args = trainer.args
    return {
        "train_loss": result.training_loss,
        "first_logged_loss": losses[0] if losses else None,
        "last_logged_loss": losses[-1] if losses else None,
        "global_step": result.global_step,
        "train_runtime_s": result.metrics.get("train_runtime"),
        "train_samples_per_second": result.metrics.get("train_samples_per_second"),
        "num_tokens": tokens[-1] if tokens else None,
        # what ran, whatever model.dtype and model.attn_implementation asked for
        **devices.describe(model),
        "compute_dtype": "bfloat16" if args.bf16 else "float16" if args.fp16 else "float32",
        "deepspeed": devices.deepspeed_in_charge(),
    }
