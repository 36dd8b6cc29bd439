"""What classes 21-23 and 27 (a ceiling on words, sentences, a word's uses or a letter, and a forbidden word, a ceiling
of none, judged as a reader reads) cost honest text.

    .venv/bin/python bench/experiment_ceilings.py

Honest text as in bench/experiment_instance_floors.py: the paragraphs of Python's documentation and, where it is
there, SmolLM2-135M-Instruct's 2,000 sampled answers. For each text the ceiling is set just above its own reference
count (the hardest honest case: Google's "less than count + 1" words or sentences, Tülu's "at most count"), and at 10%
above it; of the cases the reference pays, the share the strict reward pays is printed. Then each text against each of
the 100 commonest words of the texts as a forbidden word (Google's and Tülu's): of the pairs the reference pays (the
word is not in the text), the share the strict reward pays. Then each of those words the text holds under a ceiling
at its own count (Google's "less than count + 1", Tülu's exact count), and each of the ten commonest letters the same
way. docs/rewards.md, classes 21-23 and 27, holds the figures.
"""

from __future__ import annotations

import collections
import json
import math
import re
import sys
from pathlib import Path

from experiment_instance_floors import honest_texts, truth  # bench/: the script directory is on sys.path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from rewards import ifeval  # noqa: E402
from rewards.text_utils import count_sentences, count_words  # noqa: E402


def _tulu(func_name: str, **arguments) -> str:
    return json.dumps({"func_name": func_name, **arguments})


def ceilings(text: str, slack: float) -> dict[str, str]:
    """The ground truths whose ceiling sits `slack` above the text's own reference counts."""
    words, tokens, sentence_count = count_words(text), len(text.split()), count_sentences(text)
    return {
        "Google words": truth(
            "length_constraints:number_words", relation="less than", num_words=math.floor(words * (1 + slack)) + 1
        ),
        "Google sentences": truth(
            "length_constraints:number_sentences",
            relation="less than",
            num_sentences=math.floor(sentence_count * (1 + slack)) + 1,
        ),
        "Tülu words": _tulu("validate_word_constraint", N=math.floor(tokens * (1 + slack)), quantifier="at most"),
        "Tülu sentences": _tulu(
            "verify_sentence_constraint", N=math.floor(sentence_count * (1 + slack)), quantifier="at most"
        ),
    }


def main() -> int:
    texts = honest_texts()
    print(f"{len(texts)} honest texts")
    for slack in (0.0, 0.1):
        print(f"\nceiling {slack:.0%} above the text's own count: paid by the reference -> by the strict reward")
        for source in ("pydoc", "smollm2"):
            mine = [text for kind, text in texts if kind == source]
            if not mine:
                continue
            paid: dict[str, list[bool]] = {}
            for text in mine:
                for name, ground_truth in ceilings(text, slack).items():
                    if ifeval.verify(text, ground_truth) == 1.0:
                        paid.setdefault(name, []).append(ifeval.verify_strict(text, ground_truth) == 1.0)
            for name, verdicts in paid.items():
                share = sum(verdicts) / len(verdicts)
                print(f"  {source:8s} {name:17s} {sum(verdicts):5d} / {len(verdicts):5d} = {share:.1%}")
    common = collections.Counter(w for _, text in texts for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2)
    words = [word for word, _ in common.most_common(100)]
    print("\na common word forbidden: paid by the reference -> by the strict reward")
    _print_shares(texts, lambda text: _forbidden(words))
    print("\na common word the text holds, at its own count: paid by the reference -> by the strict reward")
    _print_shares(texts, lambda text: _word_ceilings(text, words))
    print("\na common letter at its own count: paid by the reference -> by the strict reward")
    _print_shares(texts, _letter_ceilings)
    return 0


def _forbidden(words: list[str]):
    for word in words:
        yield "Google", truth("keywords:forbidden_words", forbidden_words=[word])
        yield "Tülu", _tulu("validate_forbidden_words", forbidden_words=[word])


def _word_ceilings(text: str, words: list[str]):
    tokens = re.findall(r"\b\w+\b", text.lower())
    for word in (word for word in words if word in tokens):
        count = len(re.findall(re.escape(word), text, re.I))
        yield "Google", truth("keywords:frequency", keyword=word, frequency=count + 1, relation="less than")
        yield "Tülu", _tulu("verify_keyword_frequency", word=word, N=tokens.count(word))


def _letter_ceilings(text: str):
    for letter in "etaoinshrd":
        count = text.lower().count(letter)
        yield (
            "Google",
            truth("keywords:letter_frequency", letter=letter, let_frequency=count + 1, let_relation="less than"),
        )
        yield "Tülu", _tulu("verify_letter_frequency", letter=letter, N=text.count(letter))


def _print_shares(texts: list[tuple[str, str]], cases) -> None:
    """Per source, of the ground truths `cases(text)` gives as (name, truth) that the reference pays, the share the
    strict reward pays, by name."""
    for source in ("pydoc", "smollm2"):
        paid: dict[str, list[bool]] = {}
        for text in (text for kind, text in texts if kind == source):
            for name, ground_truth in cases(text):
                if ifeval.verify(text, ground_truth) == 1.0:
                    paid.setdefault(name, []).append(ifeval.verify_strict(text, ground_truth) == 1.0)
        for name, verdicts in paid.items():
            share = sum(verdicts) / len(verdicts)
            print(f"  {source:8s} {name:7s} {sum(verdicts):6d} / {len(verdicts):6d} = {share:.2%}")


if __name__ == "__main__":
    sys.exit(main())
