"""Constitutional AI's supervised phase (Bai et al. 2022, "Constitutional AI: Harmlessness from AI Feedback", §3.1):
the model answers a prompt, critiques its own answer against one principle of the constitution, and revises it; SFT
then trains on the revisions (`sft.constitutional=true`, stages/sft.py).

    data.sft rows -> their prompts (the turns before the first assistant turn; a seeded sample of
    sft.constitutional_prompts) -> the parent's greedy answer -> a principle per prompt (a seeded draw, as the paper
    draws one per revision) -> "critique" turn -> the parent's critique -> "revision" turn -> the parent's revision
    -> SFT rows {"messages": [prompt turns..., assistant: revision]}; every step published as revisions.jsonl

A revision that is empty, cut off at the length limit (a truncated row would teach the model to stop mid-sentence), or
that restates its critique instead of revising the answer (a small model writes "The response does not follow the
instructions." and repeats it as the rewrite: SFT on such rows taught SmolLM2-135M to answer everything that way) is
dropped and counted; the answer, critique and revision of every prompt are kept in the file all the same.
"""

from __future__ import annotations

import random
import re
from collections import Counter

from runtime.constitution import Constitution
from runtime.generation import generate
from runtime.lineage import source_id

CRITIQUE_REQUEST = "Critique your last response against this principle: {principle} Name what it does not follow."
REVISION_REQUEST = (
    "Rewrite your last response so that it follows the principle: {principle} Reply with the rewritten response only."
)


def code_id() -> str:
    """This module's source: the requests' wording and the revisions' filter decide the SFT rows."""
    return source_id(__file__)


def prompt_turns(messages: list[dict]) -> list[dict]:
    """The conversation up to its first assistant turn: what the model is asked."""
    first_answer = next((i for i, m in enumerate(messages) if m["role"] == "assistant"), len(messages))
    return [{"role": m["role"], "content": m["content"]} for m in messages[:first_answer]]


def word_overlap(text: str, other: str) -> float:
    """The share of `text`'s distinct words that `other` also has (0 when `text` has none)."""
    words = set(re.findall(r"\w+", text.lower()))
    return len(words & set(re.findall(r"\w+", other.lower()))) / len(words) if words else 0.0


def restates_critique(revision: str, critique: str, answer: str) -> bool:
    """The revision's words come more from the critique than from the answer it should have rewritten."""
    return word_overlap(revision, critique) > word_overlap(revision, answer)


def revise(model, tokenizer, rows: list[list[dict]], constitution: Constitution, *, max_new_tokens: int, seed: int):
    """Answer, critique, revise each prompt of `rows` (message lists). Returns (the SFT rows, every prompt's record,
    statistics)."""
    prompts = [prompt_turns(messages) for messages in rows]
    rng = random.Random(seed)
    principles = [rng.choice(constitution.principles) for _ in prompts]

    def turn(conversations: list[list[dict]], desc: str):
        return [
            group[0] for group in generate(model, tokenizer, conversations, max_new_tokens=max_new_tokens, desc=desc)
        ]

    answers = turn(prompts, "constitutional: answering")
    asked_critique = [
        [
            *prompt,
            {"role": "assistant", "content": answer.text},
            {"role": "user", "content": CRITIQUE_REQUEST.format(principle=principle)},
        ]
        for prompt, answer, principle in zip(prompts, answers, principles, strict=True)
    ]
    critiques = turn(asked_critique, "constitutional: critiquing")
    asked_revision = [
        [
            *conversation,
            {"role": "assistant", "content": critique.text},
            {"role": "user", "content": REVISION_REQUEST.format(principle=principle)},
        ]
        for conversation, critique, principle in zip(asked_critique, critiques, principles, strict=True)
    ]
    revisions = turn(asked_revision, "constitutional: revising")

    kept, records, counts = [], [], Counter()
    for prompt, principle, answer, critique, revision in zip(
        prompts, principles, answers, critiques, revisions, strict=True
    ):
        text = revision.text.strip()
        restated = bool(text) and revision.finished and restates_critique(text, critique.text, answer.text)
        usable = bool(text) and revision.finished and not restated
        counts["revision_empty"] += not text
        counts["revision_truncated"] += bool(text) and not revision.finished
        counts["revision_restates_critique"] += restated
        counts["revision_unchanged"] += usable and text == answer.text.strip()
        if usable:
            kept.append({"messages": [*prompt, {"role": "assistant", "content": text}]})
        records.append(
            {
                "prompt": prompt,
                "principle": principle,
                "answer": answer.text,
                "critique": critique.text,
                "revision": revision.text,
                "kept": usable,
            }
        )
    stats = {
        "constitutional_prompts": len(prompts),
        "constitutional_rows": len(kept),
        **{f"constitutional_{key}": value for key, value in sorted(counts.items())},
    }
    return kept, records, stats
