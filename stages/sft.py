"""Supervised fine-tuning: the first stage of the Tülu 3 recipe, a thin recipe over TRL's SFTTrainer.

    python -m stages.sft [key=value ...]        (or: make sft ARGS="...")

config -> training chat template (stages/chat_templates.py) -> SFT data -> parent model + tokenizer -> SFTTrainer
(tokenizing and training with the training template) -> train -> runs/<run_name>/sft/ + manifest.json, with the
model's own chat template
"""

from __future__ import annotations

from contextlib import nullcontext

from omegaconf import DictConfig
from trl import SFTTrainer

from data.loading import describe, load_sft
from stages import chat_templates, common
from stages.config import split_section


def run(cfg: DictConfig) -> None:
    if common.skip_if_complete(cfg, "sft"):
        return
    options, trainer_kwargs = split_section("sft", cfg.sft)
    # A chat template that assistant-only loss cannot mask fails here, before a GGUF is converted or weights load.
    check_training_template(cfg, options.parent)

    # Data first: a malformed row fails here, before a model is loaded.
    dataset = load_sft(cfg.data.sft)
    parent = common.resolve_parent(cfg, options.parent)
    record = common.StageRecord(cfg, "sft", parent=str(parent), data=describe(cfg.data.sft, dataset))
    model, tokenizer = common.load_model_and_tokenizer(cfg, parent)

    common.init_tracking(cfg, "sft")
    template = chat_templates.for_training(tokenizer, cfg.model) if cfg.sft.assistant_only_loss else nullcontext()
    with template:  # the checkpoint below keeps the model's own template
        trainer = SFTTrainer(
            model=model,
            args=common.trainer_config(cfg, "sft", options, trainer_kwargs),
            train_dataset=dataset,
            processing_class=tokenizer,
        )
        result = common.train(trainer, cfg, record)

    record.metrics.update(common.training_metrics(trainer, result))
    checkpoint = record.publish(trainer, tokenizer)
    common.finish_tracking(cfg, {f"sft/{k}": v for k, v in record.metrics.items()})
    common.print_summary(
        f"SFT complete: {checkpoint}",
        {"parent": str(parent), "examples": len(dataset), **record.metrics},
    )


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


main = common.stage_main(run)

if __name__ == "__main__":
    main()
