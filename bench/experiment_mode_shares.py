"""Where a run's greedy answers choose their form: the knife edge issue 36 found (docs/results.md, "A steady default").

    .venv/bin/python bench/experiment_mode_shares.py default-s42 default-s2 ... [--out docs/mode_shares.json]

For each run's SFT checkpoint and each word problem of the validation set (conf/eval/validation.yaml; problems no stage
trains on; docs/results.md's figures were measured on the slice before it, the last 150 RLVR prompts): the probability
of the first token of a bare answer ("The answer is N.") against everything else (a worked answer starts with the
problem's name); and from the run's eval generations, for SFT, DPO and RLVR, how many greedy answers are bare, how many
are worked, and how many of each are right; for math, answers in compact LaTeX against answers worked as drill facts. An
SFT mix that answers a share s of the word problems bare teaches P(bare) ~ s on every prompt (the rows draw the form at
random, not by the problem), so at s = 0.5 greedy decoding picks the form by whatever small difference a seed or a CPU's
rounding leaves.

Reads runs/<run>/sft (the checkpoint), the validation slice and runs/<run>/eval/*.generations.jsonl (`make
pipeline`); prints a table and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from measure import REPO_ROOT, compose  # bench/measure.py: the script directory is on sys.path

sys.path.insert(0, str(REPO_ROOT))  # data.loading
BARE_START = "The answer"


def validation_word_problems() -> list[list[dict]]:
    """The gsm8k prompts of the validation slice, as conf/eval/validation.yaml defines it."""
    from data.loading import load_rlvr

    (slice_,) = compose(["eval=validation"]).eval.benchmarks
    return [
        row["prompt"] for row in load_rlvr([{"path": slice_.path, "split": slice_.split}]) if row["dataset"] == "gsm8k"
    ]


def first_token_bare_probability(checkpoint: Path, prompts: list[list[dict]]) -> list[float]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
    bare_token = tokenizer.encode(BARE_START, add_special_tokens=False)[0]
    probabilities = []
    for messages in prompts:
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.no_grad():
            logits = model(input_ids=ids["input_ids"]).logits[0, -1]
        probabilities.append(logits.softmax(-1)[bare_token].item())
    return probabilities


def forms(generations: Path) -> dict:
    rows = [json.loads(line) for line in generations.read_text().splitlines()]
    words = [r for r in rows if r["benchmark"] == "gsm8k"]
    math = [r for r in rows if r["benchmark"] == "math"]
    bare = [r for r in words if r["response"].startswith(BARE_START)]
    latex = [r for r in math if r["response"].lstrip().startswith("$")]

    def right(subset):
        return sum(r["score"] > 0 for r in subset)

    return {
        "gsm8k_bare": [len(bare), right(bare)],
        "gsm8k_worked": [len(words) - len(bare), right(words) - right(bare)],
        "math_latex": [len(latex), right(latex)],
        "math_facts": [len(math) - len(latex), right(math) - right(latex)],
    }


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "mode_shares.json")
    args = parser.parse_args()
    prompts = validation_word_problems()
    results = {}
    for run in args.runs:
        run_dir = REPO_ROOT / "runs" / run
        p_bare = np.array(first_token_bare_probability(run_dir / "sft", prompts))
        results[run] = {
            "sft_p_bare_quantiles": dict(
                zip(
                    ["5%", "25%", "50%", "75%", "95%"],
                    np.quantile(p_bare, [0.05, 0.25, 0.5, 0.75, 0.95]).round(3).tolist(),
                )
            ),
            "sft_p_bare_over_half": int((p_bare > 0.5).sum()),
            **{stage: forms(run_dir / "eval" / f"{stage}.generations.jsonl") for stage in ("sft", "dpo", "rlvr")},
        }
    header = (
        "| run | P(bare) 5/50/95% | SFT bare (right) | SFT worked (right) | DPO bare | math LaTeX/facts: SFT, DPO |"
    )
    print(header + "\n|---|---|---|---|---|---|")
    for run, r in results.items():
        q, sft, dpo = r["sft_p_bare_quantiles"], r["sft"], r["dpo"]
        print(
            f"| {run} | {q['5%']:.2f} / {q['50%']:.2f} / {q['95%']:.2f} "
            f"| {sft['gsm8k_bare'][0]} ({sft['gsm8k_bare'][1]}) | {sft['gsm8k_worked'][0]} ({sft['gsm8k_worked'][1]}) "
            f"| {dpo['gsm8k_bare'][0]} | {sft['math_latex'][0]}/{sft['math_facts'][0]}, "
            f"{dpo['math_latex'][0]}/{dpo['math_facts'][0]} |"
        )
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
