"""State of our own in the Trainer's checkpoints: `WriteIntoEachCheckpoint(write)` calls `write(checkpoint-N)` on the
main process as each intermediate checkpoint is saved (a public `on_save` callback), or on every process for state
that each holds a part of (`every_process=True`: PPO's value model under ZeRO-3); the trainer mixin that owns the
state reads it back in its `train(resume_from_checkpoint=...)`. Dynamic sampling's refill order (sampling.py) and
PPO's value model (ppo.py) travel this way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from transformers import TrainerCallback


class WriteIntoEachCheckpoint(TrainerCallback):
    def __init__(self, write: Callable[[Path], None], every_process: bool = False):
        self.write, self.every_process = write, every_process

    def on_save(self, args, state, control, **kwargs):
        if self.every_process or state.is_world_process_zero:
            self.write(Path(args.output_dir) / f"checkpoint-{state.global_step}")
