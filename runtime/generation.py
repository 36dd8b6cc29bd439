"""Chat-formatted, batched generation with transformers, shared by the eval suite, on-policy DPO pairs and RLVR's
held-out checks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Generation:
    text: str
    finished: bool  # ended with an end-of-sequence token; False = cut off at max_new_tokens
    num_tokens: int


def generate(
    model,
    tokenizer,
    prompts: list[list[dict]],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    num_samples: int = 1,
    batch_size: int = 32,
    desc: str = "generating",
) -> list[list[Generation]]:
    """Chat-formatted, left-padded, batched generation: greedy when temperature == 0, else sampling.

    Returns, per prompt, `num_samples` generations with the end-of-sequence (and anything after it) removed and a
    flag saying whether it was reached — RL penalises the ones that were not."""
    import torch
    from tqdm.auto import tqdm
    from transformers import GenerationConfig

    eos_ids = eos_token_ids(model, tokenizer)
    sampling = temperature > 0
    generation_config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=sampling,
        temperature=temperature if sampling else None,
        top_p=top_p if sampling else None,
        top_k=None,
        num_return_sequences=num_samples,
        eos_token_id=sorted(eos_ids),
        pad_token_id=tokenizer.pad_token_id,
    )
    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    padding_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    was_training = model.training
    model.eval()
    results: list[list[Generation]] = []
    try:
        for start in tqdm(range(0, len(texts), batch_size), desc=desc, unit="batch", leave=False):
            # The chat template already holds the special tokens a model expects (e.g. a BOS).
            batch = tokenizer(
                texts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(model.device)
            with torch.no_grad():
                output = model.generate(**batch, generation_config=generation_config)
            completions = output[:, batch["input_ids"].shape[1] :].tolist()
            for first in range(0, len(completions), num_samples):
                results.append(
                    [_to_generation(ids, eos_ids, tokenizer) for ids in completions[first : first + num_samples]]
                )
    finally:
        tokenizer.padding_side = padding_side
        model.train(was_training)
    return results


def eos_token_ids(model, tokenizer) -> set[int]:
    configured = model.generation_config.eos_token_id
    ids = set(configured if isinstance(configured, list) else [configured] if configured is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def _to_generation(ids: list[int], eos_ids: set[int], tokenizer) -> Generation:
    end = next((i for i, token in enumerate(ids) if token in eos_ids), None)
    kept = ids if end is None else ids[:end]
    kept = [t for t in kept if t != tokenizer.pad_token_id]
    return Generation(tokenizer.decode(kept, skip_special_tokens=True), finished=end is not None, num_tokens=len(kept))
