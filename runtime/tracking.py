"""W&B: one run per stage, per eval and for the report, grouped by run name (job_type = the stage); its config is
what the manifest records, and the Trainer only adds metrics to it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from runtime.config import flatten
from runtime.layout import run_dir


def init_tracking(cfg: DictConfig, job_type: str, config: dict) -> None:
    """Open this process's W&B run: `config` (nested; logged flat, `sft.learning_rate`) is what W&B's compare view
    diffs, so it holds what the manifest records and nothing else."""
    if cfg.logging.backend != "wandb":
        os.environ["WANDB_DISABLED"] = "true"
        return
    import wandb
    from accelerate import PartialState

    if not PartialState().is_main_process:
        return  # one W&B run per stage, not one per rank (the Trainer logs from the main process only)
    mode = cfg.logging.mode
    if mode == "auto":
        mode = "online" if wandb_api_key_configured() else "offline"
    wandb_dir = run_dir(cfg) / "wandb"
    wandb_dir.mkdir(parents=True, exist_ok=True)
    wandb.init(
        project=cfg.logging.project,
        entity=cfg.logging.entity,
        group=cfg.run_name,
        job_type=job_type,
        name=f"{cfg.run_name}-{job_type}",
        tags=[cfg.model.name, *list(cfg.logging.tags)],
        config=flatten(json.loads(json.dumps(config, default=str))),
        dir=str(wandb_dir),
        mode=mode,
        reinit="finish_previous",
    )


def log_metrics_only(trainer) -> None:
    """Swap the Trainer's W&B callback for one that logs its metrics into the run `init_tracking` opened but leaves
    the run's config alone: the stock one adds every TrainingArguments field unprefixed (~170 keys duplicating
    `sft.*`, its `run_name` overwriting ours) and the model's config."""
    from transformers.integrations import WandbCallback

    class MetricsOnlyWandbCallback(WandbCallback):
        def setup(self, args, state, model, **kwargs):
            self._initialized = True
            if state.is_world_process_zero and self._wandb.run is not None:
                self._wandb.define_metric("train/global_step")
                self._wandb.define_metric("*", step_metric="train/global_step", step_sync=True)

    if trainer.pop_callback(WandbCallback) is not None:
        trainer.add_callback(MetricsOnlyWandbCallback())


def wandb_api_key_configured() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path.home() / ".netrc"
    return netrc.exists() and "api.wandb.ai" in netrc.read_text()


def finish_tracking(cfg: DictConfig, summary: dict[str, Any]) -> None:
    if cfg.logging.backend != "wandb":
        return
    import wandb

    if wandb.run is not None:
        wandb.run.summary.update(summary)
        wandb.finish()
