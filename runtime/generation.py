"""Chat-formatted, batched generation with transformers, shared by the eval suite, on-policy DPO pairs and RLVR's
held-out checks; and the eval's multi-turn tool loop (`generate_with_tools`):

    prompts + tools -> render with the tools -> generate a turn -> read its calls (the tokenizer's response template,
    TRL's parse_response) -> run each (rewards/tools.py: errors become the tool's message) -> append the results
    as tool turns -> generate again, up to max_iterations turns that call -> the last turn is the answer
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rewards.tools import call_tool

# How templates open a tool call (ours, Qwen/Hermes, Llama 3.1): seen in a turn whose calls did not parse, it is a
# malformed call, and the model is told so in a tool message.
CALL_MARKERS = ("<call ", "<tool_call>", "<|python_tag|>")


@dataclass
class Generation:
    text: str
    finished: bool  # ended with an end-of-sequence token; False = cut off at max_new_tokens
    num_tokens: int
    messages: list[dict] = field(default_factory=list)  # with tools: the transcript (assistant and tool turns)
    tool_calls: int = 0  # calls made (malformed ones included)
    tool_errors: int = 0  # calls that failed: malformed, unknown tool, bad arguments, the tool's own error


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
    eos_ids = eos_token_ids(model, tokenizer)
    generation_config = _generation_config(tokenizer, eos_ids, max_new_tokens, temperature, top_p, num_samples)
    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    completions = _generate_ids(model, tokenizer, texts, generation_config, batch_size, desc)
    return [
        [_to_generation(ids, eos_ids, tokenizer) for ids in completions[first : first + num_samples]]
        for first in range(0, len(completions), num_samples)
    ]


def generate_with_tools(
    model,
    tokenizer,
    prompts: list[list[dict]],
    tools: list,
    *,
    max_new_tokens: int,
    max_iterations: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    num_samples: int = 1,
    batch_size: int = 32,
    desc: str = "generating with tools",
) -> list[list[Generation]]:
    """`generate` with tools offered: each sample runs the tool loop until a turn makes no call (its answer) or
    `max_iterations` turns have called (then it has no answer: text ""). `max_new_tokens` bounds each turn."""
    from trl.chat_template_utils import parse_response

    eos_ids = eos_token_ids(model, tokenizer)
    generation_config = _generation_config(tokenizer, eos_ids, max_new_tokens, temperature, top_p, 1)
    by_name = {tool.__name__: tool for tool in tools}
    conversations = [list(prompt) for prompt in prompts for _ in range(num_samples)]
    results = [Generation("", True, 0) for _ in conversations]
    active = list(range(len(conversations)))
    for turn in range(max_iterations + 1):
        if not active:
            break
        texts = [
            tokenizer.apply_chat_template(conversations[i], tools=tools, tokenize=False, add_generation_prompt=True)
            for i in active
        ]
        completions = _generate_ids(model, tokenizer, texts, generation_config, batch_size, f"{desc} (turn {turn})")
        still_calling = []
        for i, text, ids in zip(active, texts, completions):
            end = next((k for k, token in enumerate(ids) if token in eos_ids), None)
            kept = [t for t in (ids if end is None else ids[: end + 1]) if t != tokenizer.pad_token_id]
            prefix = tokenizer(text, add_special_tokens=False)["input_ids"]
            message = parse_response(tokenizer, kept, prefix=prefix, tools=tools)
            result = results[i]
            result.num_tokens += len(kept) - (end is not None)
            result.finished = end is not None
            calls = message.get("tool_calls") or []
            content = message.get("content") or ""
            turn_message = {"role": "assistant", "content": content, **({"tool_calls": calls} if calls else {})}
            conversations[i].append(turn_message)
            result.messages.append(turn_message)
            replies = [((call.get("function") or {}).get("name", ""), *call_tool(by_name, call)) for call in calls]
            if not calls and any(marker in content for marker in CALL_MARKERS):
                replies = [("", str({"error": "malformed tool call: it could not be parsed"}), False)]
            if not replies or end is None or turn == max_iterations:
                # an answer; or a turn cut off at max_new_tokens, or past the limit, whose calls are not run (TRL's
                # rollouts stop the same way): no answer
                result.text = content if not replies else ""
                continue
            for name, reply, ok in replies:
                result.tool_calls += 1
                result.tool_errors += not ok
                tool_message = {"role": "tool", "name": name, "content": reply}
                conversations[i].append(tool_message)
                result.messages.append(tool_message)
            still_calling.append(i)
        active = still_calling
    return [results[first : first + num_samples] for first in range(0, len(results), num_samples)]


def _generation_config(tokenizer, eos_ids: set[int], max_new_tokens, temperature, top_p, num_return_sequences):
    from transformers import GenerationConfig

    sampling = temperature > 0
    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=sampling,
        temperature=temperature if sampling else None,
        top_p=top_p if sampling else None,
        top_k=None,
        num_return_sequences=num_return_sequences,
        eos_token_id=sorted(eos_ids),
        pad_token_id=tokenizer.pad_token_id,
    )


def _generate_ids(model, tokenizer, texts: list[str], generation_config, batch_size: int, desc: str) -> list[list[int]]:
    """Left-padded, batched `model.generate` on rendered prompts: the new token ids of each sequence."""
    import torch
    from tqdm.auto import tqdm

    padding_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    was_training = model.training
    model.eval()
    completions: list[list[int]] = []
    try:
        for start in tqdm(range(0, len(texts), batch_size), desc=desc, unit="batch", leave=False):
            # The chat template already holds the special tokens a model expects (e.g. a BOS).
            batch = tokenizer(
                texts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(model.device)
            with torch.no_grad():
                output = model.generate(**batch, generation_config=generation_config)
            completions.extend(output[:, batch["input_ids"].shape[1] :].tolist())
    finally:
        tokenizer.padding_side = padding_side
        model.train(was_training)
    return completions


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
