"""Direct preference optimisation: the second stage of the Tülu 3 recipe, a thin recipe over TRL's DPOTrainer.

    python -m stages.dpo [key=value ...]        (or: make dpo ARGS="...")

config -> preference pairs (offline: the data.preference sources; onpolicy: sampled from the parent, and from the
checkpoints of dpo.onpolicy_models, and judged by the verifiers; judge: the same samples judged by an LM against a
constitution; stages/sampled_pairs.py) ->
parent model + tokenizer -> DPOTrainer, whose reference log-probs come from an on-disk cache -> train ->
runs/<run_name>/dpo/ + manifest.json (+ onpolicy_pairs.jsonl / judge_pairs.jsonl: every pair with its scores)
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a command: a typo in the config fails here, before torch and TRL load
    from runtime.cli import check_command_line

    check_command_line()

import hashlib
import json
import math
import time
from pathlib import Path

import torch
from omegaconf import DictConfig
from trl import DPOTrainer

from data.loading import describe, fingerprint, load_preference, load_rlvr
from runtime import checkpoints, cli, console, devices, files, judge, layout, models, tracking, training
from stages import sampled_pairs


def run(cfg: DictConfig) -> str:
    options, args = training.trainer_args(cfg, "dpo")  # the trainer's `args`, and what the manifest records
    data_key = "preference" if options.pairs == "offline" else "rlvr"
    # The judge's constitution is parsed (and its model resolved) before anything else: a bad file fails here
    judge_id = judge.judge_identity(cfg) if options.pairs == "judge" else None
    pool = options.onpolicy_models  # Tülu 3's model pool: checkpoints that sample beside the parent
    if checkpoints.reuse_checkpoint(cfg, "dpo", options, args, data_key=data_key, judge=judge_id, pool=pool):
        return "reused"

    # Data first: a malformed row (missing field, chosen/rejected with different prompts) fails here, before a model
    # is loaded; pairs whose chosen and rejected are identical are skipped and counted by the loader.
    if options.pairs == "offline":
        dataset = load_preference(cfg.data.preference)
        data = {"pairs": "offline", **describe(cfg.data.preference, dataset)}
    else:
        prompts, data = load_rlvr(cfg.data.rlvr), {}  # described once the pairs are sampled
    parent = models.resolve_parent(cfg, options.parent)
    record = checkpoints.StageRecord(
        cfg,
        "dpo",
        options,
        args,
        parent=parent,
        data_key=data_key,
        data=data,
        judge=judge_id,
        pool=models.resolve_pool(cfg, "dpo", pool),
    )
    # An endpoint judge is reached, a local one loaded, before the parent samples: an unreachable server costs nothing
    rater = judge.build_judge(cfg) if options.pairs == "judge" else None
    model, tokenizer = models.load_model_and_tokenizer(cfg, parent, trainable=True)

    if options.pairs != "offline":
        started = time.time()
        drawn = sampled_pairs.select_prompts(prompts, options, args.seed)
        with devices.autocast(cfg):  # the fp32 trainable weights sample in the compute precision, as they train
            groups = sampled_pairs.sample_groups(cfg, (model, tokenizer), record.pool, drawn, options, args.seed)
            if rater is None:
                sampled = sampled_pairs.verifier_pairs(drawn, groups)
            else:
                sampled = sampled_pairs.judged_pairs(drawn, groups, rater)
        dataset, pair_rows, pair_stats = sampled
        pairs_file = sampled_pairs.ONPOLICY_PAIRS_FILE if rater is None else sampled_pairs.JUDGE_PAIRS_FILE
        record.data = {
            "pairs": options.pairs,
            "prompt_sources": describe(cfg.data.rlvr, prompts)["sources"],
            "rows": len(dataset),
            "fingerprint": fingerprint(dataset),
            "pairs_file": pairs_file,
        }
        record.artifacts[pairs_file] = pair_rows
        record.metrics.update({**pair_stats, f"{options.pairs}_pairs_time_s": round(time.time() - started, 1)})
        del rater  # a local judge's weights are freed before training

    trainer = build_trainer(cfg, options, args, model, tokenizer, dataset, reference_id=record.parent_id)
    record.args = trainer.args
    record.metrics.update(trainer.ref_logps_cache_info)
    tracking.init_tracking(cfg, "dpo", record.tracked())
    tracking.log_metrics_only(trainer)
    result = training.train(trainer, cfg, record)

    logged = trainer.state.log_history
    record.metrics.update(training.training_metrics(trainer, result))
    # the rewards TRL logs (beta * policy/reference log-ratio), as of the last logging step
    record.metrics.update({key: (training.loss_trajectory(logged, key) or [None])[-1] for key in REWARD_METRICS})
    checkpoint = record.publish(trainer, tokenizer)
    tracking.finish_tracking(cfg, {f"dpo/{k}": v for k, v in record.metrics.items()})
    console.print_summary(
        f"DPO complete: {checkpoint}",
        {"parent": str(parent), "pairs": f"{options.pairs}, {len(dataset)}", **record.metrics},
    )
    return "trained"


REWARD_METRICS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies")


def build_trainer(cfg: DictConfig, options, args, model, tokenizer, dataset, reference_id: str) -> CachedRefDPOTrainer:
    """The DPOTrainer of this stage; with precompute_ref_log_probs it reads/writes the reference log-probs cache, keyed
    by `reference_id`, the parent checkpoint's content id (runtime/lineage.checkpoint_id)."""
    cache_dir = Path(options.ref_logps_cache or layout.shared_cache(cfg, "ref_logps"))
    return CachedRefDPOTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        ref_logps_cache=cache_dir,
        reference_id=reference_id,
    )


# ----------------------------------------------------------------------------------------------------------------
# Reference log-probs, computed once and kept on disk.
#
# With precompute_ref_log_probs=True, TRL runs the reference (= the untouched parent) over the data once, before
# training, and never loads a second model. TRL caches the result only in the datasets cache, under a fingerprint that
# is random for in-memory datasets (our on-policy pairs), so it rarely survives a new process. Here the result is
# stored under <runs_dir>/_cache/ref_logps/<key>/, where the key covers everything the numbers depend on: the reference
# weights (the parent checkpoint's content id -- not TRL's hash of the in-memory state_dict, which under ZeRO-3 holds
# each rank's empty placeholders, the same for every parent), the tokenized pairs (data, tokenizer and chat template in
# one), max_length and truncation, ld_alpha, dtype. beta, the loss type and the learning rate are not in it: they do
# not change the reference log-probs, so a sweep over them reuses one entry. The directory sits beside the runs (not
# inside one run) so that every run of a sweep shares it, and a throw-away runs_dir (tests) takes its cache with it.
#
# TRL runs the reference over every pair even when max_steps trains on a few of them (the default: 40 steps draw 640 of
# 3000 pairs, and the pass over all 3000 took longer than training). Only the rows the training sampler will draw are
# computed here -- the same sampler, with the same seed -- and the others hold NaN; a batch that reaches the loss with
# a NaN reference fails at once rather than training on it. Which rows is part of the cache key.

CACHE_FILE = "ref_logps.safetensors"


class CachedRefDPOTrainer(DPOTrainer):
    """TRL's DPOTrainer whose precomputed reference log-probs are looked up in, and saved to, a keyed directory.
    `ref_logps_cache_info` says what happened (hit/miss, key, seconds), for the manifest."""

    def __init__(self, *args, ref_logps_cache: Path, reference_id: str, **kwargs):
        self.ref_logps_cache = Path(ref_logps_cache)
        self.reference_id = reference_id
        self.ref_logps_cache_info: dict = {"ref_logps_cache": "off (reference model kept in memory)"}
        super().__init__(*args, **kwargs)

    def compute_loss(self, model, inputs, *args, **kwargs):
        reference = inputs.get("ref_chosen_logps")
        if reference is not None and torch.isnan(reference).any():
            raise RuntimeError(
                "DPO drew a pair whose reference log-prob was never computed: the training sampler did not draw the "
                "rows predicted for it (stages/dpo.py, rows_training_draws); set dpo.precompute_ref_log_probs=false"
            )
        return super().compute_loss(model, inputs, *args, **kwargs)

    def _precompute_ref_logps(self, dataset, name: str, batch_size: int):
        from datasets import Dataset, concatenate_datasets
        from safetensors.torch import load_file, save_file

        start = time.time()
        rows = rows_training_draws(self) if name == "train" else None  # None: every row
        key_parts = {
            "reference_weights": self.reference_id,
            "tokenized_pairs": token_fingerprint(dataset, ("prompt_ids", "chosen_ids", "rejected_ids")),
            "max_length": self.args.max_length,
            "truncation_mode": self.args.truncation_mode,
            "ld_alpha": self.args.ld_alpha,
            "dtype": str(self.model.dtype),
        }
        if rows is not None:
            key_parts["rows"] = hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:20]
        key = hashlib.sha256(json.dumps(key_parts, sort_keys=True).encode()).hexdigest()[:20]
        entry = self.ref_logps_cache / key

        if (entry / CACHE_FILE).exists():
            cached = load_file(entry / CACHE_FILE)
            columns = {"ref_chosen_logps": cached["chosen"].tolist(), "ref_rejected_logps": cached["rejected"].tolist()}
            dataset = concatenate_datasets([dataset, Dataset.from_dict(columns)], axis=1)
            status = "hit"
        else:
            if rows is None:
                dataset = super()._precompute_ref_logps(dataset, name, batch_size)
            else:
                drawn = super()._precompute_ref_logps(dataset.select(rows), name, batch_size)
                dataset = with_ref_logps_at(dataset, rows, drawn)
            if self.accelerator.is_main_process:
                # A concurrent run may write the same entry first: identical content, theirs is kept.
                with files.atomic(entry, keep_existing=True) as tmp:
                    tmp.mkdir()
                    save_file(
                        {
                            "chosen": torch.tensor(dataset["ref_chosen_logps"]),
                            "rejected": torch.tensor(dataset["ref_rejected_logps"]),
                        },
                        tmp / CACHE_FILE,
                    )
                    files.write_json(tmp / "key.json", {**key_parts, "rows": len(dataset)})
            self.accelerator.wait_for_everyone()
            self._release_precompute_engine()
            status = "miss"

        seconds = round(time.time() - start, 2)
        computed = len(dataset) if rows is None else len(rows)
        print(
            f"[dpo] reference log-probs for {name} ({computed} of {len(dataset)} pairs, those training draws): "
            f"cache {status}, {seconds}s -> {entry}"
        )
        self.ref_logps_cache_info = {
            "ref_logps_cache": status,
            "ref_logps_cache_dir": str(entry),
            "ref_logps_s": seconds,
            "ref_logps_rows": computed,
        }
        return dataset

    def _release_precompute_engine(self) -> None:
        """Under DeepSpeed TRL computes the reference pass through an inference engine over the policy's own module
        (`_precompute_engine`, TRL 1.16). Under ZeRO-3 that engine's parameter hooks stay on the module, and the
        training engine built over it next fails at its first step (DeepSpeed: "pop from an empty deque"); its hooks
        are removed once the reference pass is done (make multinode-check runs this path)."""
        engine = getattr(self, "_precompute_engine", None)
        if engine is not None:
            engine.destroy()
            self._precompute_engine = None


def rows_training_draws(trainer: DPOTrainer) -> list[int] | None:
    """The train_dataset rows that max_steps optimizer steps will draw, ascending; None when that is every row, or
    cannot be known here: whole epochs (max_steps=-1), several processes, DeepSpeed/FSDP, or a sampler other than
    accelerate's seeded random one or a sequential one (group_by_length...)."""
    from accelerate.data_loader import SeedableRandomSampler
    from torch.utils.data import SequentialSampler

    args = trainer.args
    if args.max_steps <= 0 or trainer.accelerator.num_processes != 1:
        return None
    if trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled:
        return None
    # The loader train() will build, from the same dataset and sampler code; it is only read, then dropped.
    batches = trainer.get_train_dataloader().batch_sampler
    sampler = getattr(batches, "sampler", None)
    # The random sampler seeds itself from data_seed (conf/dpo/default.yaml: the run's seed), else from torch's
    # initial seed when the loader is built -- which a torch.manual_seed between here and train() would change.
    if not isinstance(sampler, (SeedableRandomSampler, SequentialSampler)):
        return None
    total, rows, steps_left, epoch = len(trainer.train_dataset), set(), args.max_steps, 0
    while steps_left > 0 and len(rows) < total:
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)  # as train() does at each epoch
        epoch_batches = list(batches)
        # an epoch's last, partial accumulation is still an optimizer step
        epoch_steps = math.ceil(len(epoch_batches) / args.gradient_accumulation_steps)
        taken = epoch_batches[: steps_left * args.gradient_accumulation_steps]
        rows.update(row for batch in taken for row in batch)
        steps_left -= epoch_steps
        epoch += 1
    return None if len(rows) == total else sorted(rows)


def with_ref_logps_at(dataset, rows: list[int], drawn):
    """`dataset` with the reference columns of `drawn` (= dataset.select(rows) with them) at `rows`, NaN elsewhere."""
    from datasets import Dataset, concatenate_datasets

    columns = {}
    for column in ("ref_chosen_logps", "ref_rejected_logps"):
        values = torch.full((len(dataset),), float("nan"), dtype=torch.float64)
        values[rows] = torch.tensor(drawn[column], dtype=torch.float64)
        columns[column] = values.tolist()
    return concatenate_datasets([dataset, Dataset.from_dict(columns)], axis=1)


def token_fingerprint(dataset, columns: tuple[str, ...]) -> str:
    """Content hash of token-id list columns, read as Arrow buffers (seconds for hundreds of thousands of rows)."""
    h = hashlib.sha256()
    for batch in dataset.select_columns(list(columns)).with_format("arrow").iter(batch_size=10_000):
        for name in columns:
            ids = batch[name].combine_chunks()
            h.update(name.encode())
            h.update(ids.value_lengths().to_numpy(zero_copy_only=False).tobytes())
            h.update(ids.flatten().to_numpy(zero_copy_only=False).astype("int64").tobytes())
    return h.hexdigest()[:20]


main = cli.stage_main(run)

if __name__ == "__main__":
    main()
