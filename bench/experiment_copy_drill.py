"""A copy drill in the SFT mix: does a skill the tasks lack, copying a word from the prompt, steady the default?

    .venv/bin/python bench/experiment_copy_drill.py [--seeds 42 2 7 1 3 5] [--against steady] [--rows 2000]
                                                    [--out docs/copy_drill.json]

The steady recipe's checkpoints write the prompt's variable letter (one of four) in 18-50% of their math answers and
name 5-18% of the keywords an instruction asks for (docs/results.md, "Copying from the prompt"). The drill teaches the
skill apart from any task, as the arithmetic drill teaches sums: "Repeat these words: w1 ... wk." -> "w1 ... wk.", k
from 1 to 5, each word drawn from every word of the SFT conversations, the 26 letters and the numbers to 99 (630 words:
too many for a frequent one to stand in for reading the prompt).

1. writes `--rows` such conversations to runs/_cache/copy_drill.jsonl (deterministic);
2. `make pipeline SEEDS=... ARGS="run_name=copy data.sft=[the default's mix, the drill]"` (as stages.pipeline);
3. scores SFT, DPO and RLVR of `copy-s<seed>` and `<against>-s<seed>` (the default's runs, `make pipeline SEEDS=...
   ARGS=run_name=steady`) on the validation set (conf/eval/validation.yaml; where a choice is made), as
   eval/val900_<stage>.json, skipping what exists;
4. prints, per stage, the drill against the default paired over seeds and prompts (eval/seeds.py's test) and RLVR - DPO
   within each recipe, plus the copy rates of the held-out answers; writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from random import Random

# bench/measure.py (the script directory is on sys.path)
from measure import REPO_ROOT, comparison, comparison_cells, family_means, prompt_scores, run, validation

sys.path.insert(0, str(REPO_ROOT))  # eval.seeds
STAGES = ("sft", "dpo", "rlvr")
DRILL = REPO_ROOT / "runs" / "_cache" / "copy_drill.jsonl"
VARIABLE = r"(?<![a-z\\])[xytn](?![a-z])"  # data/generate.py's VARS, as its problem keys find them


def write_drill(rows: int) -> None:
    conversations = [json.loads(line) for line in (REPO_ROOT / "data/embedded/sft_train.jsonl").open()]
    words = {w for row in conversations for m in row["messages"] for w in re.findall(r"[A-Za-z]{2,}", m["content"])}
    pool = sorted(words | set("abcdefghijklmnopqrstuvwxyz") | {str(i) for i in range(100)})
    rng = Random("1234|copy|2")  # data/generate.py's seed and difficulty: the rows of the runs in docs/results.md
    lines = []
    for _ in range(rows):
        copied = " ".join(rng.choice(pool) for _ in range(rng.randint(1, 5)))
        messages = [{"role": "user", "content": f"Repeat these words: {copied}."}]
        lines.append(json.dumps({"messages": messages + [{"role": "assistant", "content": f"{copied}."}]}) + "\n")
    DRILL.parent.mkdir(parents=True, exist_ok=True)
    DRILL.write_text("".join(lines))
    print(f"[copy drill] {rows} rows from {len(pool)} words: {DRILL}", flush=True)


def copy_rates(generations: Path) -> dict[str, float]:
    """The share of math answers whose box holds the problem's variable letter (of those with a letter in both), and
    the share of the keywords asked for that the answer names."""
    letters, keywords = [], []
    for line in generations.read_text().splitlines():
        row = json.loads(line)
        question, response = row["messages"][-1]["content"], row["response"]
        boxes = re.findall(r"\\boxed\{([^}]*)\}", response)
        asked, answered = re.findall(VARIABLE, question), boxes and re.findall(VARIABLE, boxes[-1])
        if row["dataset"] == "math" and asked and answered:
            letters.append(answered[0] == asked[0])
        wanted = re.search(r"Include the keywords? (\w+)(?: and (\w+))?\.", question)
        for word in wanted.groups() if wanted else ():
            if word:
                keywords.append(bool(re.search(rf"\b{word}\b", response, re.IGNORECASE)))
    return {"math_letter": statistics.fmean(letters), "keywords_named": statistics.fmean(keywords)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 2, 7, 1, 3, 5])
    parser.add_argument("--against", default="steady", help="the default's seed runs: <against>-s<seed>")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--out", default="docs/copy_drill.json")
    parser.add_argument("--trained", action="store_true", help="the copy-s<seed> runs exist: score and compare them")
    args = parser.parse_args()
    write_drill(args.rows)
    mix = "[{path: 'embedded:sft_train'}, {path: 'embedded:arithmetic_drill'}, {path: '" + str(DRILL) + "'}]"
    seeds = ",".join(map(str, args.seeds))
    if not args.trained:
        run([sys.executable, "-m", "stages.pipeline", "run_name=copy", f"data.sft={mix}", f"seeds=[{seeds}]"])
    result: dict = {"seeds": args.seeds, "rows": args.rows, "stages": {}, "rlvr_minus_dpo": {}, "copy_rates": {}}
    scores = {
        recipe: {st: {s: prompt_scores(validation(f"{recipe}-s{s}", st)) for s in args.seeds} for st in STAGES}
        for recipe in (args.against, "copy")
    }
    for stage in STAGES:
        result["stages"][stage] = {
            "means": {r: {str(s): family_means(scores[r][stage][s]) for s in args.seeds} for r in scores},
            "copy_minus_default": comparison(scores[args.against][stage], scores["copy"][stage], args.seeds),
        }
        for recipe in scores:
            result["copy_rates"].setdefault(recipe, {})[stage] = {
                str(s): copy_rates(REPO_ROOT / "runs" / f"{recipe}-s{s}" / "eval" / f"{stage}.generations.jsonl")
                for s in args.seeds
            }
    for recipe in scores:
        result["rlvr_minus_dpo"][recipe] = comparison(scores[recipe]["dpo"], scores[recipe]["rlvr"], args.seeds)
    print("\nvalidation set (900 problems), points; B - A paired over seeds and prompts:")
    for stage in STAGES:
        line = result["stages"][stage]["copy_minus_default"]
        print(f"  {stage}: copy - {args.against}: " + comparison_cells(line))
    for recipe, line in result["rlvr_minus_dpo"].items():
        print(f"  {recipe}: rlvr - dpo: " + ", ".join(f"{k} {v['diff']:+.1f} p={v['p']:.3f}" for k, v in line.items()))
    print("held-out copy rates (math letter / keywords named), per seed:")
    for recipe, stages in result["copy_rates"].items():
        for stage, rates in stages.items():
            print(f"  {recipe} {stage}: " + " ".join(
                f"{s}: {r['math_letter']:.2f}/{r['keywords_named']:.2f}" for s, r in rates.items()))  # fmt: skip
    Path(REPO_ROOT / args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
