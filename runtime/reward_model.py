"""Reward models (`make rm`, stages/rm.py): which one a consumer means, loading it, and scoring conversations with it.

RLVR hands the loaded model to TRL's GRPOTrainer as a reward function (`rlvr.reward=rm|both`); the eval suite ranks
sampled answers with `score_conversations` (best-of-N, eval/scorers.py). Both read prompt + response through the
chat template, right-padded, as TRL does."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from runtime import devices
from runtime.layout import read_manifest, stage_dir


def resolve_reward_model(cfg: DictConfig, name: str) -> Path:
    """ "rm" = this run's reward model, else a checkpoint directory; complete, or a clear error naming the checkpoint
    expected (before any generation)."""
    checkpoint = stage_dir(cfg, "rm") if name == "rm" else Path(name)
    manifest = read_manifest(checkpoint)
    if manifest is None or manifest.get("status") != "complete" or manifest.get("stage") != "rm":
        found = (
            "does not exist"
            if manifest is None
            else f"is not a complete reward model (stage {manifest.get('stage')!r}, status {manifest.get('status')!r})"
        )
        raise SystemExit(
            f"no trained reward model: {checkpoint} {found}; train it with `make rm` (run_name={cfg.run_name}) "
            "or name one with rlvr.reward_model=<checkpoint directory>"
        )
    return checkpoint


def load_reward_model(cfg: DictConfig, path: Path | str, *, trainable: bool):
    """A sequence classifier with one output + its tokenizer, on the local device, in eval mode: the weights in the
    precision runtime/devices.py gives a `trainable` model (`make rm`) or an inference copy (scoring)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from runtime import attention

    attention.register()

    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=cfg.model.trust_remote_code)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(path),
        num_labels=1,
        dtype=devices.weights_dtype(cfg, trainable),
        attn_implementation=attention.resolve(cfg.model.attn_implementation, devices.local_device()),
        trust_remote_code=cfg.model.trust_remote_code,
    )
    devices.place(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id  # the classifier reads the last token before the padding
    return model.eval(), tokenizer


def score_conversations(model, tokenizer, conversations: list[list[dict]], batch_size: int = 64) -> list[float]:
    """The reward model's score of each conversation (prompt turns + the assistant's answer)."""
    import torch

    texts = [tokenizer.apply_chat_template(messages, tokenize=False) for messages in conversations]
    scores: list[float] = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[start : start + batch_size],
            return_tensors="pt",
            padding=True,
            padding_side="right",
            add_special_tokens=False,
        ).to(model.device)
        # no_grad, not inference_mode: under ZeRO-3 the forward gathers the weights into buffers training reuses,
        # and inference tensors cannot be saved for backward (`make rm DS=zero3`'s accuracy before training)
        with torch.no_grad():
            scores.extend(model(**batch).logits[:, 0].float().tolist())
    return scores
