"""What class 21 (a ceiling on words or sentences counts what a reader sees) costs honest text.

    .venv/bin/python bench/experiment_ceilings.py

Honest text as in bench/experiment_instance_floors.py: the paragraphs of Python's documentation and, where it is
there, SmolLM2-135M-Instruct's 2,000 sampled answers. For each text the ceiling is set just above its own reference
count (the hardest honest case: Google's "less than count + 1" words or sentences, Tülu's "at most count"), and at 10%
above it; of the cases the reference pays, the share the strict reward pays is printed. docs/rewards.md, class 21,
holds the figures.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from experiment_instance_floors import honest_texts  # bench/: the script directory is on sys.path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from rewards import ifeval  # noqa: E402
from rewards.text_utils import count_sentences, count_words  # noqa: E402


def _google(instruction: str, **kwargs) -> str:
    return json.dumps({"instruction_id_list": [instruction], "kwargs": [kwargs]})


def _tulu(func_name: str, **arguments) -> str:
    return json.dumps({"func_name": func_name, **arguments})


def ceilings(text: str, slack: float) -> dict[str, str]:
    """The ground truths whose ceiling sits `slack` above the text's own reference counts."""
    words, tokens, sentence_count = count_words(text), len(text.split()), count_sentences(text)
    return {
        "Google words": _google(
            "length_constraints:number_words", relation="less than", num_words=math.floor(words * (1 + slack)) + 1
        ),
        "Google sentences": _google(
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
                for name, truth in ceilings(text, slack).items():
                    if ifeval.verify(text, truth) == 1.0:
                        paid.setdefault(name, []).append(ifeval.verify_strict(text, truth) == 1.0)
            for name, verdicts in paid.items():
                share = sum(verdicts) / len(verdicts)
                print(f"  {source:8s} {name:17s} {sum(verdicts):5d} / {len(verdicts):5d} = {share:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
