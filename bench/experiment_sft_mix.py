"""Another SFT mix for the embedded default: rows per task family and drill rows, through the whole chain over seeds.

    .venv/bin/python bench/experiment_sft_mix.py --name NAME [--gsm8k N] [--math N] [--ifeval N] [--drill N]
        [--seeds 42 2 7] [--against rlvr-dynamic-process2-100steps] [--trained] [--own-base] [--out FILE]

(the counts default to data/generate.py's N_SFT and N_DRILL)

Issue 36's question: does the spread of math across seeds (made in SFT's end state: half-learnt problem types,
docs/results.md) shrink when SFT sees more of the family at the same cost, and what does the drill (55% of SFT's
tokens) buy?

1. builds the mix with data/generate.py's own generator (`build(sft_rows=..., drill_rows=...)`: the validation set
   stays the default's and the mix's conversations on its problems are left out) and writes
   runs/_cache/<name>_sft.jsonl and <name>_drill.jsonl;
2. `python -m stages.pipeline run_name=<name> data.sft=[both files] seeds=[...]` (DPO's pairs and RLVR's prompts the
   default's) on the default's base model, which shipping the mix leaves as it is: its tokenizer is trained on a frozen
   corpus (`model.tiny.tokenizer_corpus`). `--own-base` trains the tokenizer on the mix's SFT file instead, as every
   mix did until 2026-12-07 (the same SFT file on another base scored 1.6 to 5.6 validation points apart:
   docs/results.md, "The base model moves with the SFT file");
3. scores each stage of `<name>-s<seed>` and `<against>-s<seed>` on the validation set (measure.validation);
4. prints per stage the mix against the default, paired over seeds and prompts, and the validation means per seed;
   writes them as JSON. The held-out tables are the pipeline's seeds reports (`make compare RUNS="<against>-seeds
   <name>-seeds"` pairs them).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# bench/measure.py (the script directory is on sys.path)
from measure import REPO_ROOT, comparison, comparison_cells, family_means, prompt_scores, run, validation

sys.path.insert(0, str(REPO_ROOT))  # data.generate, eval.seeds
STAGES = ("sft", "dpo", "rlvr")


def write_mix(name: str, rows: dict[str, int], drill: int) -> list[Path]:
    """The mix's two files under runs/_cache."""
    from data.generate import build, dumps_jsonl

    files = build(sft_rows=rows, drill_rows=drill)
    sft = files["sft_train"]
    print(f"[mix] {len(sft)} task conversations ({sum(rows.values()) - len(sft)} on validation problems left out)")
    out = [REPO_ROOT / "runs" / "_cache" / f"{name}_{part}.jsonl" for part in ("sft", "drill")]
    out[0].parent.mkdir(parents=True, exist_ok=True)
    out[0].write_text(dumps_jsonl(sft))
    out[1].write_text(dumps_jsonl(files["arithmetic_drill"]))
    return out


def main() -> int:
    from data.generate import FAMILIES, N_DRILL, N_SFT

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", required=True, help="the runs: <name>-s<seed>")
    for family in FAMILIES:
        parser.add_argument(f"--{family}", type=int, default=N_SFT[family], help="SFT conversations of the family")
    parser.add_argument("--drill", type=int, default=N_DRILL, help="arithmetic drill conversations")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 2, 7])
    parser.add_argument("--against", default="rlvr-dynamic-process2-100steps", help="the default's runs")
    parser.add_argument("--trained", action="store_true", help="the <name>-s<seed> runs exist: score and compare")
    parser.add_argument("--own-base", action="store_true", help="a base model whose tokenizer is trained on the mix")
    parser.add_argument("--out", help="JSON of the comparison (default runs/<name>-mix.json)")
    args = parser.parse_args()
    rows = {family: getattr(args, family) for family in FAMILIES}
    sft, drill = write_mix(args.name, rows, args.drill)
    if not args.trained:
        mix = f"[{{path: '{sft}'}}, {{path: '{drill}'}}]"
        seeds = ",".join(map(str, args.seeds))
        base = [f"model.tiny.tokenizer_corpus={sft}"] if args.own_base else []
        run([sys.executable, "-m", "stages.pipeline", f"run_name={args.name}", f"data.sft={mix}", *base,
             f"seeds=[{seeds}]"])  # fmt: skip
    scores = {
        recipe: {st: {s: prompt_scores(validation(f"{recipe}-s{s}", st)) for s in args.seeds} for st in STAGES}
        for recipe in (args.against, args.name)
    }
    result: dict = {"mix": rows | {"drill": args.drill}, "seeds": args.seeds, "stages": {}}
    print(f"\nvalidation set (900 problems), points; {args.name} - {args.against}, paired over seeds and prompts:")
    for stage in STAGES:
        means = {r: {str(s): family_means(scores[r][stage][s]) for s in args.seeds} for r in scores}
        versus = comparison(scores[args.against][stage], scores[args.name][stage], args.seeds)
        result["stages"][stage] = {"means": means, "mix_minus_default": versus}
        print(f"  {stage}: " + comparison_cells(versus))
        for recipe, per_seed in means.items():
            cells = (f"s{s} " + "/".join(f"{m[f]:.1f}" for f in FAMILIES) for s, m in per_seed.items())
            print(f"    {recipe} (gsm8k/math/ifeval): " + "  ".join(cells))
    out = Path(args.out) if args.out else REPO_ROOT / "runs" / f"{args.name}-mix.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
