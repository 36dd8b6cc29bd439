"""Dynamic sampling (DAPO's, open-instruct's `filter_zero_std_samples`): a group of completions whose rewards are
all equal has zero advantage and teaches nothing; it is dropped and the batch refilled from further prompts.

generation batch (prompts x num_generations, scored by TRL) -> groups with a nonzero advantage kept -> while fewer
than the batch holds and rounds are left: generate for as many further prompts as are missing (a seeded shuffle of
the training set, cycled) and keep their informative groups -> the batch, filled up with uninformative groups if the
rounds ran out (their advantage is 0) -> the loss. Logged per generation batch: dynamic/filtered_share (groups of
the batch's own prompts without signal), dynamic/extra_generations, dynamic/rounds, dynamic/filled_share,
dynamic/time_s. Each intermediate checkpoint holds `dynamic_sampling.json` (how many refill prompts were taken, the
totals so far), so a resumed run refills with the prompts the uninterrupted one would have used.

With several processes each one filters its own groups, which needs every process's generation batch
(per_device_train_batch_size x steps_per_generation) to hold whole groups (refused at start otherwise: TRL then
splits groups across processes); the processes agree on the number of refill rounds and their size (the most any of
them misses), because TRL gathers across processes inside each generation.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from runtime.files import write_json
from stages.rl.checkpoint_state import WriteIntoEachCheckpoint

STATE_FILE = "dynamic_sampling.json"  # in each checkpoint-N of the work directory

# Keys of TRL's generation batch (GRPO and RLOO, text only) and how each is padded when batches are merged.
LEFT_PADDED = ("prompt_ids", "prompt_mask")
RIGHT_PADDED = (
    "completion_ids",
    "completion_mask",
    "old_per_token_logps",
    "ref_per_token_logps",
    "sampling_per_token_logps",
    "tool_mask",
)
PER_ROW = ("advantages", "old_logps")  # old_logps: RLOO's per-sequence sum


def informative_groups(advantages: torch.Tensor, group_size: int, tolerance: float = 1e-6) -> list[int]:
    """Indices of the groups (consecutive runs of `group_size` rows) in which some completion's advantage is not 0."""
    per_group = advantages.view(-1, group_size).abs().amax(dim=1)
    return [int(i) for i in torch.nonzero(per_group > tolerance).flatten()]


def take_groups(batch: dict, groups: list[int], group_size: int) -> dict:
    """The rows of `groups`, every per-row tensor of the batch cut the same way."""
    rows = torch.tensor([g * group_size + i for g in groups for i in range(group_size)], dtype=torch.long)
    return {key: value[rows] if _per_row(value) else value for key, value in batch.items()}


def _per_row(value) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() > 0


def merge_batches(batches: list[dict], pad_token_id: int) -> dict:
    """One generation batch from several: rows concatenated, prompts left-padded and completions right-padded to the
    longest, `num_items_in_batch` recounted from the merged loss mask. A key this does not know fails (multimodal
    and vLLM importance-sampling batches are not merged)."""
    keys = set(batches[0])
    unknown = keys - {*LEFT_PADDED, *RIGHT_PADDED, *PER_ROW, "num_items_in_batch"}
    if unknown:
        raise RuntimeError(f"rlvr.dynamic_sampling cannot merge generation batches holding {sorted(unknown)}")
    merged = {}
    for key in keys - {"num_items_in_batch"}:
        parts = [batch[key] for batch in batches]
        if parts[0] is None:
            merged[key] = None
            continue
        if key in PER_ROW:
            merged[key] = torch.cat(parts)
            continue
        width = max(part.size(1) for part in parts)
        fill = pad_token_id if key.endswith("_ids") else 1 if key == "tool_mask" else 0
        padded = []
        for part in parts:
            extra = part.new_full((part.size(0), width - part.size(1)), fill)
            padded.append(torch.cat([extra, part] if key in LEFT_PADDED else [part, extra], dim=1))
        merged[key] = torch.cat(padded)
    if "num_items_in_batch" in keys:  # GRPO's loss normaliser: the loss tokens of the generation batch
        mask = merged["completion_mask"]
        merged["num_items_in_batch"] = (mask * merged["tool_mask"] if "tool_mask" in merged else mask).sum()
    return merged


class SpareOrder:
    """The refill prompts: a seeded shuffle of the training set's indices, reshuffled with the next seed each time it
    runs out. How many were taken is its whole state: `SpareOrder(size, seed, taken=n)` continues where one that had
    handed out n left off."""

    def __init__(self, size: int, seed: int, taken: int = 0):
        self.size, self.seed, self.taken = size, seed, 0
        self._order: list[int] = []
        self._epoch = 0
        self.take(taken)

    def take(self, count: int) -> list[int]:
        indices = []
        while len(indices) < count:
            if not self._order:
                generator = torch.Generator().manual_seed(self.seed + self._epoch)
                self._order = torch.randperm(self.size, generator=generator).tolist()
                self._epoch += 1
            indices.append(self._order.pop())
        self.taken += count
        return indices


class DynamicSampling:
    """Mixin for TRL's GRPO/RLOO trainers (before them in the bases): with `dynamic_sampling=True`, every training
    generation batch holds only groups with a learning signal, refilled for at most `dynamic_sampling_max_rounds`
    extra generation rounds. Overrides TRL's private `_generate_and_score_completions` (docs/interfaces.md)."""

    def __init__(self, *args, dynamic_sampling: bool = False, dynamic_sampling_max_rounds: int = 2, **kwargs):
        self.dynamic_sampling = dynamic_sampling
        self.dynamic_sampling_max_rounds = dynamic_sampling_max_rounds
        super().__init__(*args, **kwargs)
        local_batch = self.args.per_device_train_batch_size * self.args.steps_per_generation
        if dynamic_sampling and self.accelerator.num_processes > 1 and local_batch % self.num_generations:
            raise ValueError(
                f"rlvr.dynamic_sampling with {self.accelerator.num_processes} processes: each process's generation "
                f"batch ({local_batch} = per_device_train_batch_size x steps_per_generation) must hold whole groups "
                f"of num_generations={self.num_generations}"
            )
        # over the run, for the manifest: generation batches, their groups without signal, extra completions, seconds
        self.dynamic_totals = {"batches": 0, "filtered_groups": 0, "groups": 0, "extra_generations": 0, "seconds": 0.0}
        # each process refills from its own order; every process takes as many prompts, so one count restores all
        self._spare = SpareOrder(len(self.train_dataset), self.args.seed + 1 + 1000 * self.accelerator.process_index)
        if dynamic_sampling:
            self.add_callback(WriteIntoEachCheckpoint(self._save_state))

    def _save_state(self, checkpoint: Path) -> None:
        """STATE_FILE: the refill prompts taken and the totals (the count is the same on every process)."""
        write_json(checkpoint / STATE_FILE, {"spare_taken": self._spare.taken, "totals": self.dynamic_totals})

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        """Trainer.train, after restoring the refill order and the totals from the checkpoint resumed from."""
        saved = Path(resume_from_checkpoint) / STATE_FILE if isinstance(resume_from_checkpoint, str) else None
        if self.dynamic_sampling and saved is not None:
            if saved.exists():
                state = json.loads(saved.read_text())
                self._spare = SpareOrder(self._spare.size, self._spare.seed, taken=state["spare_taken"])
                self.dynamic_totals = state["totals"]
            else:  # a checkpoint killed between the Trainer's files and ours
                print(f"[rlvr] {saved} is missing: dynamic sampling refills from the start of its order")
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def _generate_and_score_completions(self, inputs):
        batch = super()._generate_and_score_completions(inputs)
        if not self.dynamic_sampling or not self.model.training:
            return batch
        start = time.perf_counter()
        size = self.num_generations
        wanted = len(inputs) // size
        kept = informative_groups(batch["advantages"], size)
        parts, found = [take_groups(batch, kept, size)], len(kept)
        rounds = extra = 0
        while rounds < self.dynamic_sampling_max_rounds:
            missing_anywhere = self._most_missing(wanted - found)  # every process generates as often, as much
            if not missing_anywhere:
                break
            more_inputs = [row for row in self._spare_prompts(missing_anywhere) for _ in range(size)]
            more = super()._generate_and_score_completions(more_inputs)
            groups = informative_groups(more["advantages"], size)[: wanted - found]
            parts.append(take_groups(more, groups, size))
            found += len(groups)
            rounds += 1
            extra += len(more_inputs)
        filler = [g for g in range(wanted) if g not in kept][: wanted - found]
        if filler:  # out of rounds: the batch keeps its size with groups whose advantage is 0
            parts.append(take_groups(batch, filler, size))
        merged = merge_batches([p for p in parts if p["advantages"].numel()], self._tokenizer.pad_token_id)
        seconds = time.perf_counter() - start
        metrics = self._metrics["train"]
        metrics["dynamic/filtered_share"].append(1 - len(kept) / wanted)
        metrics["dynamic/extra_generations"].append(extra)
        metrics["dynamic/rounds"].append(rounds)
        metrics["dynamic/filled_share"].append(len(filler) / wanted)
        metrics["dynamic/time_s"].append(seconds)
        totals = self.dynamic_totals
        totals["batches"] += 1
        totals["groups"] += wanted
        totals["filtered_groups"] += wanted - len(kept)
        totals["extra_generations"] += extra
        totals["seconds"] += seconds
        return merged

    def _most_missing(self, missing: int) -> int:
        """The most groups any process still misses (this one's alone in one process)."""
        if self.accelerator.num_processes == 1:
            return missing
        return int(self.accelerator.gather(torch.tensor([missing], device=self.accelerator.device)).max())

    def _spare_prompts(self, count: int) -> list[dict]:
        """The next `count` rows of the refill order (SpareOrder)."""
        return [self.train_dataset[index] for index in self._spare.take(count)]
