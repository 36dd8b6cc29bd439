"""What class 18 (a floor on instances counts only instances said apart) costs honest text.

    .venv/bin/python bench/experiment_instance_floors.py

Honest text: the paragraphs of Python's own documentation (`pydoc_data.topics`, 20 words or more, code blocks left
out) and, where it is there, runs/smolprobe/eval/base.generations.jsonl (SmolLM2-135M-Instruct's 2,000 sampled answers,
docs/rewards.md says how they were made). For each text and each instance kind it holds (capital words; every content
word used twice or more, as a keyword; the ten commonest letters; placeholders), the floor is set at the text's own
reference count (the hardest honest case: every instance must count) and at half of it; of the cases the reference
pays at the count, the share the strict reward pays at each floor is printed. docs/rewards.md, class 18, holds the
figures.
"""

from __future__ import annotations

import collections
import json
import pydoc_data.topics
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from rewards import ifeval  # noqa: E402
from rewards.text_utils import word_tokens  # noqa: E402

SMOLLM2_ANSWERS = REPO_ROOT / "runs" / "smolprobe" / "eval" / "base.generations.jsonl"
FUNCTION_WORDS = set(
    "the and that this with from have has are was were for not but you your they their them then than there these "
    "those into onto each what when which while will would can could should been being also more most some such only "
    "other over under very".split()
)


def truth(instruction: str, **kwargs) -> str:
    return json.dumps({"instruction_id_list": [instruction], "kwargs": [kwargs]})


def honest_texts() -> list[tuple[str, str]]:
    texts = [
        ("pydoc", paragraph)
        for body in pydoc_data.topics.topics.values()
        for paragraph in re.split(r"\n\s*\n", body)
        if len(paragraph.split()) >= 20 and not paragraph.startswith("   ")
    ]
    if SMOLLM2_ANSWERS.exists():
        texts += [("smollm2", json.loads(line)["response"]) for line in SMOLLM2_ANSWERS.open()]
    return texts


def floors(text: str):
    """(kind, the reference's count, ground truth for a floor of n) for each instance kind the text holds twice."""
    capitals = sum(1 for word in word_tokens(text) if word.isupper())
    if capitals >= 2:
        yield (
            "capital words",
            capitals,
            lambda n: truth("change_case:capital_word_frequency", capital_frequency=n, capital_relation="at least"),
        )
    words = collections.Counter(word.lower() for word in re.findall(r"\w+", text) if word.isalpha() and len(word) > 3)
    for word, uses in words.items():
        if uses >= 2 and word not in FUNCTION_WORDS:
            yield (
                "keyword (a content word used twice or more)",
                len(re.findall(re.escape(word), text, re.I)),
                (lambda n, word=word: truth("keywords:frequency", keyword=word, frequency=n, relation="at least")),
            )
    for letter in "etaoinsrhl":
        if text.lower().count(letter) >= 2:
            yield (
                "letter",
                text.lower().count(letter),
                lambda n, letter=letter: truth(
                    "keywords:letter_frequency", letter=letter, let_frequency=n, let_relation="at least"
                ),
            )
    placeholders = len(re.findall(r"\[[^\[\]\n]*\]", text))
    if placeholders >= 2:
        yield (
            "placeholders",
            placeholders,
            lambda n: truth("detectable_content:number_placeholders", num_placeholders=n),
        )


def main() -> None:
    paid = collections.defaultdict(lambda: [0, 0, 0])  # (source, kind) -> [cases, at the count, at half]
    for source, text in honest_texts():
        for kind, count, truth in floors(text):
            if ifeval.verify(text, truth(count)) < 1.0:
                continue
            row = paid[(source, kind)]
            row[0] += 1
            row[1] += ifeval.verify_strict(text, truth(count)) == 1.0
            row[2] += ifeval.verify_strict(text, truth(max(1, count // 2))) == 1.0
    print("| text | instance | cases | strict reward pays, floor at the count | floor at half the count |")
    print("|---|---|---|---|---|")
    for (source, kind), (cases, at_count, at_half) in sorted(paid.items()):
        print(f"| {source} | {kind} | {cases} | {100 * at_count / cases:.1f}% | {100 * at_half / cases:.1f}% |")


if __name__ == "__main__":
    main()
