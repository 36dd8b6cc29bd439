"""A stage's checkpoint and its manifest: the record of what ran (`StageRecord`), whether an existing checkpoint is
this one (`reusable`: same parent by content, same training config), and publishing it atomically, manifest last.

    runs/<run>/<stage>/            the model + tokenizer, artifacts, manifest.json (status "complete", id, parent_id,
                                   config_hash, config as run, data, environment, metrics)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from data.loading import content_digests
from rewards.identity import verifier_code_id
from runtime.config import data_source_defaults, flatten, schema_defaults, shared_config
from runtime.files import discard, move_into_place, staging_path, write_json, write_jsonl
from runtime.layout import read_manifest, stage_dir
from runtime.lineage import checkpoint_id, content_hash, directory_hash, environment, git_commit
from runtime.models import full_parameters, resolve_parent, resolve_pool

# Keys of a stage's recorded config that say where it is kept or how it is watched, not what it trains: left out of
# its config hash, so a renamed run or another verifier pool size reuses the checkpoint.
NOT_TRAINING = (
    "output_dir",
    "run_name",
    "logging_dir",
    "report_to",
    "push_to_hub",
    "hub_model_id",
    "disable_tqdm",
    "logging_steps",
    "logging_strategy",
    "logging_first_step",
    "log_completions",
    "num_completions_to_print",
    "save_strategy",
    "save_steps",
    "save_total_limit",
    "ref_logps_cache",
    "verifier_workers",
    "heldout_eval_steps",
    "heldout_benchmarks",
    "heldout_eval_rows",
)


@dataclass
class StageRecord:
    """What a stage's manifest.json says about it: the config it ran with (`config`), its parent by path and by
    content (`parent_id`), its own identity (`config_hash`, and `id` once published), the data, the environment
    and the metrics. `reusable` decides whether an existing checkpoint is this one; `publish` writes it."""

    cfg: DictConfig
    stage: str
    options: Any  # the stage's own options (config.OPTIONS)
    args: Any  # the TRL config object; after the trainer is built, `trainer.args`
    parent: Path | str
    data_key: str  # the data.<key> sources the stage trains on
    data: dict = field(default_factory=dict)  # data.loading.describe(): sources, rows, fingerprint
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, list[dict]] = field(default_factory=dict)  # extra JSONL files published with the checkpoint
    judge: dict | None = None  # runtime/judge.judge_identity of the LM judge that chose the training data, if any
    reward_code: str | None = None  # the id of the code that turns scores into the reward (RLVR), given by the stage
    pool: dict[str, Path | str] = field(default_factory=dict)  # checkpoints that sampled the data beside the parent
    started_at: str = field(default_factory=lambda: now_iso())
    start_time: float = field(default_factory=time.time)

    def __post_init__(self):
        self.parent_id = checkpoint_id(self.parent, self.cfg.model.revision)
        self.pool_ids = {name: checkpoint_id(path, self.cfg.model.revision) for name, path in self.pool.items()}
        self.data_digests = content_digests(self.cfg.data[self.data_key])
        # Stages on the RLVR prompts train on what the verifiers say of them (RLVR's reward, on-policy DPO's pairs)
        self.verifiers = verifier_code_id() if self.data_key == "rlvr" else None

    def config(self) -> dict:
        """The resolved config as it ran: the shared sections, and for this stage our options plus every argument
        the trainer holds (only fields of the trainer class in use). Other stages' sections are not in it."""
        resolved = shared_config(self.cfg)
        arguments = {k: v for k, v in self.args.to_dict().items() if not k.startswith("_")}
        resolved[self.stage] = json.loads(json.dumps({**dataclasses.asdict(self.options), **arguments}, default=str))
        return resolved

    def tracked(self) -> dict:
        """The W&B run's config: the recorded config, the stage's lineage and environment (`make compare` reads it)."""
        return {
            "parent_id": self.parent_id,
            "config_hash": self.config_hash(),
            **self.config(),
            "environment": environment(),
        }

    def config_hash(self) -> str:
        # The data's content belongs to the identity too: a file edited in place is other data.
        identity = training_identity(self.config(), self.stage, self.data_key)
        return content_hash({**identity, "content": self.data_digests, **self._makers_of_data()})

    def _makers_of_data(self) -> dict:
        """Who made what the data teaches, when not its file: the verifiers' code, the reward's, an LM judge, the
        checkpoints that sampled it beside the parent (by content)."""
        made = {"verifiers": self.verifiers} if self.verifiers else {}
        made.update({"reward_code": self.reward_code} if self.reward_code else {})
        made.update({"judge": self.judge} if self.judge else {})
        return {**made, "sampled_by": self.pool_ids} if self.pool_ids else made

    def manifest(self, status: str) -> dict:
        return {
            "stage": self.stage,
            "status": status,
            "parent": str(self.parent),
            "parent_id": self.parent_id,
            "config_hash": self.config_hash(),
            "config": self.config(),
            "data": {**self.data, "content": self.data_digests, **self._makers_of_data()},
            "git_commit": git_commit(),
            "environment": environment(),
            "started_at": self.started_at,
            "finished_at": now_iso() if status == "complete" else None,
            "wall_time_s": round(time.time() - self.start_time, 1),
            "metrics": self.metrics,
        }

    def reusable(self, manifest: dict) -> bool:
        """True when `manifest` (of the run's complete checkpoint of this stage) says it was trained from the same
        parent (by content) with the same config; says which it is, and why a checkpoint is not reused."""
        tag = f"[{self.stage}] {stage_dir(self.cfg, self.stage)}"
        config_hash = self.config_hash()
        if self.cfg.overwrite:
            print(f"{tag} exists; training again (overwrite=true)")
            return False
        if manifest.get("parent_id") != self.parent_id:
            print(
                f"{tag} was trained from another parent ({manifest.get('parent')}, id {manifest.get('parent_id')}; "
                f"now {self.parent}, id {self.parent_id}); training again"
            )
            return False
        added = []
        if manifest.get("config_hash") != config_hash:
            old = flatten(training_identity(manifest.get("config") or {}, self.stage, self.data_key))
            new = flatten(training_identity(self.config(), self.stage, self.data_key))
            defaults = flatten(training_identity(schema_defaults(), self.stage, self.data_key))
            defaults |= data_source_defaults(new)
            # a key the checkpoint's record lacks, now at its schema default: added since, with the behaviour the
            # checkpoint was trained with (an upgrade adding keys does not retrain every stage)
            added = [k for k in new.keys() - old.keys() if k in defaults and new[k] == defaults[k]]
            changed = [
                f"{k}: {old.get(k, '—')} -> {new.get(k, '—')}"
                for k in sorted(old.keys() | new.keys())
                if old.get(k, "—") != new.get(k, "—") and k not in added
            ]
            was = (manifest.get("data") or {}).get("content")
            changed += [
                f"data.{self.data_key}.{i} content: {before} -> {now}"
                for i, (before, now) in enumerate(zip(was or [], self.data_digests))
                if before != now
            ]
            verifiers = (manifest.get("data") or {}).get("verifiers")
            if verifiers != self.verifiers:  # rewards/identity.py: their source or a scoring library changed
                changed.append(f"verifier code: {verifiers or '—'} -> {self.verifiers or '—'}")
            reward_code = (manifest.get("data") or {}).get("reward_code")
            if reward_code != self.reward_code:  # stages/rl/reward.reward_code_id: weights, gates, penalties
                changed.append(f"reward code: {reward_code or '—'} -> {self.reward_code or '—'}")
            judge = (manifest.get("data") or {}).get("judge")
            if judge != self.judge:  # runtime/judge.judge_identity: its model, constitution or protocol changed
                changed.append(f"judge: {judge or '—'} -> {self.judge or '—'}")
            sampled_by = (manifest.get("data") or {}).get("sampled_by") or {}
            if sampled_by != self.pool_ids:  # dpo.onpolicy_models: another pool, or a member with other weights
                changed.append(f"sampled by: {sampled_by or '—'} -> {self.pool_ids or '—'}")
            if changed or not added:
                print(
                    f"{tag} was trained with another config ({'; '.join(changed[:5]) or 'config hash differs'}); "
                    "training again"
                )
                return False
        print(
            f"{tag} is complete, with the same parent (id {self.parent_id}) and config (hash {manifest['config_hash']}"
            + (f"; keys added since, at their defaults: {', '.join(sorted(added))}" if added else "")
            + "); reusing it (overwrite=true trains it again)"
        )
        return True

    def publish(self, trained, tokenizer) -> Path:
        """Save into a temporary sibling directory, write the complete manifest last, then rename into place.

        A crash at any point leaves either the previous checkpoint or none — never a half-written one that looks
        complete. `trained` is the Trainer (preferred: under DeepSpeed ZeRO-3 it consolidates the sharded weights)
        or the model. Under a multi-process launch every rank calls this (gathering weights is collective), only
        the main process writes, and no rank returns before the checkpoint is in place."""
        from accelerate import PartialState

        state = PartialState()
        final = stage_dir(self.cfg, self.stage)
        tmp = staging_path(final, per_process=False)  # every rank saves (collectively) into the same directory
        if state.is_main_process:
            discard(tmp)
        state.wait_for_everyone()
        if hasattr(trained, "save_model"):
            trained.save_model(str(tmp))  # writes on the main process only
        else:
            with full_parameters(trained):
                if state.is_main_process:
                    trained.save_pretrained(tmp, safe_serialization=True)
        if state.is_main_process:
            tokenizer.save_pretrained(tmp)
            (tmp / "training_args.bin").unlink(missing_ok=True)  # the Trainer's pickle; the manifest has the config
            for name, rows in self.artifacts.items():
                write_jsonl(tmp / name, rows)
            # The id is the content of what was written (weights, tokenizer, artifacts): a child records it as its
            # parent_id, so a replaced parent is told apart from the one the child was trained from.
            manifest = {"id": directory_hash(tmp), **self.manifest("complete"), "launch": launch_info()}
            write_json(tmp / "manifest.json", manifest)
            move_into_place(tmp, final)
        state.wait_for_everyone()
        return final


def reuse_checkpoint(
    cfg: DictConfig,
    stage: str,
    options: Any,
    args: Any,
    data_key: str,
    judge: dict | None = None,
    pool=(),
    reward_code: str | None = None,
) -> bool:
    """StageRecord.reusable for the stage as configured (`pool`: the names of the checkpoints that sample beside
    the parent; `reward_code`: StageRecord's); False at once when the run has no complete checkpoint of it, so that
    a first run validates its data before it builds or resolves a parent."""
    manifest = read_manifest(stage_dir(cfg, stage))
    if not manifest or manifest.get("status") != "complete":
        return False
    parent = resolve_parent(cfg, options.parent)
    resolved = resolve_pool(cfg, stage, pool)
    record = StageRecord(
        cfg, stage, options, args, parent=parent, data_key=data_key, judge=judge, pool=resolved, reward_code=reward_code
    )
    return record.reusable(manifest)


def training_identity(config: dict, stage: str, data_key: str) -> dict:
    """What decides a stage's weights besides its parent, from a recorded config (StageRecord.config, or an existing
    manifest's): the stage's section minus NOT_TRAINING, the model settings, the data sources it trains on."""
    section = {k: v for k, v in (config.get(stage) or {}).items() if k not in NOT_TRAINING}
    return {stage: section, "model": config.get("model"), "data": (config.get("data") or {}).get(data_key)}


def launch_info() -> dict:
    """How the stage was launched (the manifest's `launch`): process count, backend, DeepSpeed config if any."""
    from accelerate import PartialState

    state = PartialState()
    return {
        "num_processes": state.num_processes,
        "distributed_type": str(state.distributed_type),
        "deepspeed_config": os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE"),
    }


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
