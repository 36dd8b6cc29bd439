"""State of our own in the Trainer's checkpoints: `WriteIntoEachCheckpoint(write)` calls `write(checkpoint-N)` on the
main process as each intermediate checkpoint is saved (a public `on_save` callback); the trainer mixin that owns the
state reads it back in its `train(resume_from_checkpoint=...)`. Dynamic sampling's refill order (sampling.py) and
PPO's value model (ppo.py) travel this way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from transformers import TrainerCallback


class WriteIntoEachCheckpoint(TrainerCallback):
    def __init__(self, write: Callable[[Path], None]):
        self.write = write

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.write(Path(args.output_dir) / f"checkpoint-{state.global_step}")
