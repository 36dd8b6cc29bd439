"""Supervised fine-tuning: the first stage of the Tülu 3 recipe, a thin recipe over TRL's SFTTrainer.

    python -m stages.sft [key=value ...]        (or: make sft ARGS="...")

config -> training chat template (runtime/chat_templates.py) -> SFT data -> parent model + tokenizer (with
`sft.constitutional`: the parent answers, critiques and revises the data's prompts against judge.constitution, and the
revisions are the data, runtime/constitutional.py) -> SFTTrainer (tokenizing and training with the training template;
with `sft.full_logits_loss`, FullLogitsSFTTrainer) -> train -> runs/<run_name>/sft/ + manifest.json, with the model's
own chat template (+ revisions.jsonl)
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a command: a typo in the config fails here, before torch and TRL load
    from runtime.cli import check_command_line

    check_command_line()

from contextlib import nullcontext

import torch
from omegaconf import DictConfig
from transformers import Trainer
from trl import SFTTrainer

from data.loading import SFT_FEATURES, describe, fingerprint, load_sft
from runtime import chat_templates, checkpoints, cli, console, constitutional, devices, models, tracking, training
from runtime.constitution import load_constitution


def run(cfg: DictConfig) -> str:
    options, args = training.trainer_args(cfg, "sft")  # the trainer's `args`, and what the manifest records
    # Constitutional AI: the constitution is parsed before anything else; its text and the code that asks for and
    # filters the revisions are part of the identity
    principles = load_constitution(cfg.judge.constitution) if options.constitutional else None
    critic = {"constitution": principles.identity, "code": constitutional.code_id()} if principles else None
    if checkpoints.reuse_checkpoint(cfg, "sft", options, args, data_key="sft", judge=critic):
        return "reused"
    # A chat template that assistant-only loss cannot mask fails here, before a GGUF is converted or weights load.
    check_training_template(cfg, options.parent)

    # Data first: a malformed row fails here, before a model is loaded.
    dataset = load_sft(cfg.data.sft)
    parent = models.resolve_parent(cfg, options.parent)
    record = checkpoints.StageRecord(
        cfg, "sft", options, args, parent=parent, data_key="sft", data=describe(cfg.data.sft, dataset), judge=critic
    )
    model, tokenizer = models.load_model_and_tokenizer(cfg, parent, trainable=True)
    if principles is not None:
        dataset = revised_data(cfg, options, args, record, model, tokenizer, dataset, principles)

    template = chat_templates.for_training(tokenizer, cfg.model) if args.assistant_only_loss else nullcontext()
    with template:  # the checkpoint below keeps the model's own template
        trainer = trainer_class(options)(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
        record.args = trainer.args
        tracking.init_tracking(cfg, "sft", record.tracked())
        tracking.log_metrics_only(trainer)
        result = training.train(trainer, cfg, record)

    record.metrics.update(training.training_metrics(trainer, result))
    checkpoint = record.publish(trainer, tokenizer)
    tracking.finish_tracking(cfg, {f"sft/{k}": v for k, v in record.metrics.items()})
    console.print_summary(
        f"SFT complete: {checkpoint}",
        {"parent": str(parent), "examples": len(dataset), **record.metrics},
    )
    return "trained"


REVISIONS_FILE = "revisions.jsonl"  # sft.constitutional: every prompt's answer, principle, critique and revision


def revised_data(cfg, options, args, record, model, tokenizer, dataset, principles):
    """Constitutional AI's supervised data: the parent's revisions of its own answers to a seeded sample of the
    data's prompts, each against a principle drawn from the constitution."""
    from datasets import Dataset

    if options.constitutional_prompts:
        dataset = dataset.shuffle(seed=args.seed).select(range(min(options.constitutional_prompts, len(dataset))))
    with devices.autocast(cfg):  # the fp32 trainable weights generate in the compute precision, as they train
        rows, revisions, stats = constitutional.revise(
            model,
            tokenizer,
            dataset["messages"],
            principles,
            max_new_tokens=options.constitutional_max_new_tokens,
            seed=args.seed,
        )
    print(f"[sft] constitutional revisions: {stats}")
    if not rows:
        raise SystemExit(f"sft.constitutional: no usable revision ({stats}); raise sft.constitutional_max_new_tokens")
    revised = Dataset.from_list(rows, features=SFT_FEATURES)
    record.data = {
        "sft": "constitutional",
        "prompt_sources": record.data["sources"],
        "rows": len(revised),
        "fingerprint": fingerprint(revised),
        "revisions_file": REVISIONS_FILE,
    }
    record.artifacts[REVISIONS_FILE] = revisions
    record.metrics.update(stats)
    return revised


class FullLogitsSFTTrainer(SFTTrainer):
    """TRL's SFTTrainer with the model's own loss: cross-entropy over the full logits, as transformers' Trainer computes
    it (the same value as TRL's), in place of TRL's chunked LM head, which never builds the logits. That head saves
    memory for a large vocabulary; for the tiny model's 1024 its recomputation costs ~20% of a step
    (bench/bench_sft_flops.py). TRL's metrics (token accuracy, entropy, tokens seen) are computed from the logits."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs["use_cache"] = False
        loss, outputs = Trainer.compute_loss(self, model, inputs, True, num_items_in_batch)
        mode = "train" if model.training else "eval"
        with torch.no_grad():
            logits, labels = outputs.logits[:, :-1], inputs["labels"][:, 1:]
            scored = labels != -100
            logits, labels = logits[scored], labels[scored]
            log_probs = logits.log_softmax(-1)
            entropy = -(log_probs.exp() * log_probs).sum(-1)
            tokens = self.accelerator.gather_for_metrics(scored.sum()).sum()
            correct = self.accelerator.gather_for_metrics((logits.argmax(-1) == labels).sum()).sum()
            entropy = self.accelerator.gather_for_metrics(entropy.sum()).sum()
        self._metrics[mode]["entropy"].append((entropy / tokens).item() if tokens > 0 else 0.0)
        self._metrics[mode]["mean_token_accuracy"].append((correct / tokens).item() if tokens > 0 else 0.0)
        if mode == "train":
            ids = inputs["input_ids"]
            seen = (
                inputs["attention_mask"].sum()
                if "attention_mask" in inputs
                else torch.tensor(ids.numel(), device=ids.device)
            )
            self._total_train_tokens += self.accelerator.gather_for_metrics(seen).sum().item()
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return (loss, outputs) if return_outputs else loss


def trainer_class(options) -> type[SFTTrainer]:
    """The trainer the stage builds for its options (bench/bench_sft_flops.py builds the same)."""
    return FullLogitsSFTTrainer if options.full_logits_loss else SFTTrainer


def check_training_template(cfg: DictConfig, parent: str) -> None:
    """With assistant-only loss, fail now (one line, what to set) when the parent's template cannot be marked."""
    if not cfg.sft.assistant_only_loss:
        return
    original = chat_templates.parent_chat_template(cfg, parent)
    if original is None:
        return  # known only once the tokenizer loads; for_training checks it then
    try:
        chat_templates.training_chat_template(original, cfg.model)
    except chat_templates.TemplateError as error:
        raise SystemExit(f"config error: {error}") from error


main = cli.stage_main(run)

if __name__ == "__main__":
    main()
