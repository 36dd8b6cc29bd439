"""AI feedback on the embedded default, against the verifiers (docs/results.md, "AI feedback"):

    .venv/bin/python bench/experiment_ai_feedback.py [--run default] [--judge-overrides ...]

needs runs/<run>/{sft,dpo,rlvr} (`make pipeline`); each step in its own process, reused when already there:

  1. DPO pairs          from the run's SFT checkpoint, the same DPO settings: the shipped pairs (the run's own dpo),
                        pairs judged by the verifiers (dpo.pairs=onpolicy) and pairs judged by the LM judge
                        (dpo.pairs=judge, conf/judge/smollm2.yaml); held-out scores, pair counts, the judge's
                        agreement with the verifiers on its own pairs, the time the pairs took
  2. RLAIF vs RLVR      from the run's DPO checkpoint, the run's RLVR settings: rlvr.reward=judge against the run's own
                        rlvr (reward = the verifiers); held-out scores, reward curves, the verifiers' reward logged
                        at weight 0 beside the judge's (the hacking signal: the judge's reward rising while the
                        verifiers' falls)
  3. conflict          RLAIF as in 2, under conf/constitution/capitals.yaml (one principle: write in capitals) against
                        2's (tulu3_aspects): on the held-out IFEval prompts that ask for lowercase, the share of
                        answers in lowercase; on every IFEval prompt, the share in capitals (which one won, the
                        verifiable instruction or the principle, once trained on)
  pool                 as in 1, with Tülu 3's model pool: the checkpoints of --pool (other runs' SFT checkpoints)
                        sample beside the run's SFT checkpoint (dpo.onpolicy_models), for the pairs of --pool-pairs;
                        held-out scores, pair counts and the share of chosen and rejected answers the pool wrote
  4. Constitutional AI  on SmolLM2-135M-Instruct (+experiment=smollm2_cpu, run --cai-run): from the base model,
                        sft.constitutional=true (answer, critique, revise, SFT on the revisions) against that run's
                        base and SFT checkpoints; the tiny model cannot write a revision (its revisions come out empty)

Writes docs/ai_feedback.json (--out; sections run again replace theirs) and prints the tables. Other seeds:
--run default-s2 --sections dpo --out docs/ai_feedback_s2.json. Over seeds, once each seed's dpo and rl sections ran:

    .venv/bin/python bench/experiment_ai_feedback.py --seeds default default-s2 default-s7

writes docs/ai_feedback_seeds.json (or --seeds-out): per arm the mean ± sd over seeds of each benchmark and the share
of gsm8k answers that are a bare "The answer is N." (no working), and the paired tests over (seed, prompt)
(eval/seeds.paired_test) of the judge's arms against the verifiers' and the shipped pairs. An arm that not every seed
ran is listed under "not run".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from measure import REPO_ROOT, run_stage  # bench/measure.py: the script directory is on sys.path

sys.path.insert(0, str(REPO_ROOT))  # eval.seeds, for the paired tests over seeds

BENCHMARKS = ("gsm8k", "math", "ifeval")


def scores(run_name: str, stage_name: str) -> dict[str, float]:
    result = json.loads((REPO_ROOT / "runs" / run_name / "eval" / f"{stage_name}.json").read_text())
    return {name: result["benchmarks"][name]["score"] for name in BENCHMARKS} | {"average": result["average"]}


def manifest(run_name: str, stage_name: str) -> dict:
    return json.loads((REPO_ROOT / "runs" / run_name / stage_name / "manifest.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="default")
    parser.add_argument("--sections", default="dpo,rl,conflict,cai")
    parser.add_argument("--judge-overrides", nargs="*", default=[], help="e.g. judge.mode=pairwise")
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "ai_feedback.json"))
    parser.add_argument("--pool", nargs="*", default=[], help="checkpoint directories that sample beside the SFT")
    parser.add_argument("--pool-pairs", nargs="*", default=["onpolicy"], choices=["onpolicy", "judge"])
    parser.add_argument("--cai-run", default="smollm2_cpu", help="a +experiment=smollm2_cpu run with base and sft")
    parser.add_argument("--cai-prompts", type=int, default=64)
    parser.add_argument("--seeds", nargs="*", help="the runs of seeds 42, 2, 7, ...: summarise them, run nothing")
    parser.add_argument("--seeds-out", default=str(REPO_ROOT / "docs" / "ai_feedback_seeds.json"))
    parser.add_argument(
        "--plot", nargs="*", help="per-seed --out files: plot their reward curves and scores, run nothing"
    )
    parser.add_argument("--plot-out", default=str(REPO_ROOT / "docs" / "ai_feedback.png"))
    args = parser.parse_args()
    if args.seeds:
        summarise_seeds(args.seeds, Path(args.seeds_out))
        return
    if args.plot:
        plot_seeds([json.loads(Path(path).read_text()) for path in args.plot], Path(args.plot_out))
        return
    run, runs = args.run, REPO_ROOT / "runs"
    for needed in ("sft", "dpo", "rlvr"):
        if not (runs / run / needed / "manifest.json").exists():
            sys.exit(f"runs/{run}/{needed} is missing: run `make pipeline` (run_name={run}) first")
    smol = ["+experiment=smollm2_cpu"]
    out_path = Path(args.out)
    out = json.loads(out_path.read_text()) if out_path.exists() else {}
    out["run"] = run
    sections = args.sections.split(",")
    if "dpo" in sections or "rl" in sections or "pool" in sections:
        run_stage("eval.run", run, "eval.stages=[sft,dpo,rlvr]")

    def sampled_dpo(name: str, pairs: str, *overrides: str) -> dict:
        """DPO from the run's SFT checkpoint on sampled pairs, then its eval: scores, the pairs' metrics, wall time."""
        wall = run_stage(
            "stages.dpo",
            name,
            f"dpo.parent={runs / run / 'sft'}",
            f"dpo.pairs={pairs}",
            *overrides,
            *args.judge_overrides,
        )
        run_stage("eval.run", name, "eval.stages=[dpo]")
        metrics = manifest(name, "dpo")["metrics"]
        return {
            "scores": scores(name, "dpo"),
            "stage_wall_s": round(wall),
            "metrics": {k: v for k, v in metrics.items() if k.startswith(("judge", "onpolicy", "pool", "train_"))},
        }

    if "dpo" in sections:
        out["dpo"] = {"shipped pairs (the run's dpo)": {"scores": scores(run, "dpo")}}
        for pairs in ("onpolicy", "judge"):
            out["dpo"][f"{pairs} pairs"] = sampled_dpo(f"{run}-dpo-{pairs}", pairs)

    if "pool" in sections:
        if not args.pool:
            sys.exit("--sections pool needs --pool: the checkpoints that sample beside the run's SFT checkpoint")
        pool = "[" + ",".join(str(Path(path).resolve()) for path in args.pool) + "]"
        out["pool"] = {"models": args.pool}
        for pairs in args.pool_pairs:
            out["pool"][f"{pairs} pairs"] = sampled_dpo(f"{run}-dpo-{pairs}", pairs)  # reused when the dpo section ran
            out["pool"][f"{pairs} pairs, with the pool"] = sampled_dpo(
                f"{run}-dpo-{pairs}-pool", pairs, f"dpo.onpolicy_models={pool}"
            )

    def rlaif(name: str, *overrides: str) -> float:
        """RLAIF from the run's DPO checkpoint, then its eval; the stage's wall time."""
        wall = run_stage(
            "stages.rlvr",
            name,
            f"rlvr.parent={runs / run / 'dpo'}",
            "rlvr.reward=judge",
            "rlvr.log_completions=false",
            *overrides,
            *args.judge_overrides,
        )
        run_stage("eval.run", name, "eval.stages=[rlvr]")
        return wall

    if "rl" in sections:
        name = f"{run}-rlaif"
        wall = rlaif(name)
        out["rl"] = {
            "dpo (start)": {"scores": scores(run, "dpo")},
            "verifier (the run's rlvr)": {"scores": scores(run, "rlvr"), "metrics": rl_metrics(manifest(run, "rlvr"))},
            "judge (RLAIF)": {
                "scores": scores(name, "rlvr"),
                "stage_wall_s": round(wall),
                "metrics": rl_metrics(manifest(name, "rlvr")),
            },
        }

    if "conflict" in sections:
        out["conflict"] = {}
        for constitution in ("tulu3_aspects", "capitals"):
            name = f"{run}-rlaif" if constitution == "tulu3_aspects" else f"{run}-rlaif-{constitution}"
            rlaif(name, f"judge.constitution={constitution}")
            out["conflict"][f"RLAIF under {constitution}"] = {
                "scores": scores(name, "rlvr"),
                "case": letter_case(name, "rlvr"),
                "metrics": rl_metrics(manifest(name, "rlvr")),
            }
        out["conflict"]["dpo (start)"] = {"scores": scores(run, "dpo"), "case": letter_case(run, "dpo")}

    if "cai" in sections:
        name = f"{args.cai_run}-cai"
        run_stage("eval.run", args.cai_run, *smol, "eval.stages=[base,sft]")
        wall = run_stage(
            "stages.sft",
            name,
            *smol,
            "sft.constitutional=true",
            f"sft.constitutional_prompts={args.cai_prompts}",
            *args.judge_overrides,
        )
        run_stage("eval.run", name, *smol, "eval.stages=[sft]")
        metrics = manifest(name, "sft")["metrics"]
        out["cai"] = {
            "base (start)": {"scores": scores(args.cai_run, "base")},
            "sft (the preset's, on 480 shipped rows)": {"scores": scores(args.cai_run, "sft")},
            "constitutional sft": {
                "scores": scores(name, "sft"),
                "stage_wall_s": round(wall),
                "metrics": {k: v for k, v in metrics.items() if k.startswith(("constitutional", "train_"))},
            },
        }

    out_path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


# arm -> (the run's suffix, its stage): every seed's run has them after the dpo and rl sections
ARMS = {
    "dpo, shipped pairs": ("", "dpo"),
    "dpo, verifier-judged pairs": ("-dpo-onpolicy", "dpo"),
    "dpo, LM-judged pairs": ("-dpo-judge", "dpo"),
    "dpo, verifier-judged pairs from a model pool": ("-dpo-onpolicy-pool", "dpo"),
    "dpo, LM-judged pairs from a model pool": ("-dpo-judge-pool", "dpo"),
    "rlvr (verifiers)": ("", "rlvr"),
    "rlaif (judge)": ("-rlaif", "rlvr"),
}
COMPARISONS = [
    ("dpo, shipped pairs", "dpo, LM-judged pairs"),
    ("dpo, verifier-judged pairs", "dpo, LM-judged pairs"),
    ("dpo, shipped pairs", "dpo, verifier-judged pairs"),
    ("dpo, verifier-judged pairs", "dpo, verifier-judged pairs from a model pool"),
    ("dpo, shipped pairs", "dpo, verifier-judged pairs from a model pool"),
    ("dpo, LM-judged pairs", "dpo, LM-judged pairs from a model pool"),
    ("rlvr (verifiers)", "rlaif (judge)"),
    ("dpo, shipped pairs", "rlaif (judge)"),
]


def summarise_seeds(seed_runs: list[str], out_path: Path) -> None:
    import statistics

    from eval.seeds import load_seed_run, paired_test, prompt_pairs

    runs = REPO_ROOT / "runs"
    arms = {  # the arms every seed ran (the RL sections take ~13 minutes a seed on 2 cores and may be left out)
        arm: (suffix, stage)
        for arm, (suffix, stage) in ARMS.items()
        if all((runs / f"{run}{suffix}" / "eval" / f"{stage}.json").exists() for run in seed_runs)
    }
    loaded = {
        arm: {k: load_seed_run(runs / f"{run}{suffix}") for k, run in enumerate(seed_runs)}
        for arm, (suffix, _) in arms.items()
    }
    out = {"seed_runs": seed_runs, "arms": {}, "paired": {}, "not run": sorted(set(ARMS) - set(arms))}
    for arm, (suffix, stage) in arms.items():
        per_seed = [scores(f"{run}{suffix}", stage) for run in seed_runs]
        bare = [bare_answer_share(f"{run}{suffix}", stage) for run in seed_runs]
        out["arms"][arm] = {
            name: [
                round(100 * statistics.fmean(v), 1),
                round(100 * statistics.stdev(v), 1),
                [round(100 * x, 1) for x in v],
            ]
            for name in (*BENCHMARKS, "average")
            for v in [[seed[name] for seed in per_seed]]
        } | {"gsm8k_bare_answer_share": bare}
    for a, b in [(a, b) for a, b in COMPARISONS if a in arms and b in arms]:
        stage_a, stage_b = ARMS[a][1], ARMS[b][1]
        result = {}
        for benchmark in (None, *BENCHMARKS):
            test = paired_test(prompt_pairs(loaded[a], stage_a, loaded[b], stage_b, benchmark))
            result[benchmark or "average"] = {
                k: round(100 * v, 1) if k != "p" else round(v, 4) for k, v in test.items()
            }
        out["paired"][f"{b} - {a}"] = result
    out_path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


def plot_seeds(seeds: list[dict], path: Path) -> None:
    """Left: each seed's training reward under RLVR (the verifiers) and RLAIF (the judge), both on the x10 scale, with
    the verifiers' reward RLAIF logged at weight 0 at its last step. Right: the held-out average of every arm the
    files hold (the DPO pairs and the RL rewards), dots = seeds."""
    import statistics

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curves, bars) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [1, 1.3]})
    for k, seed in enumerate(seeds):
        rl = seed["rl"]
        for arm, colour, label in (
            ("verifier (the run's rlvr)", "tab:blue", "RLVR: verifier reward"),
            ("judge (RLAIF)", "tab:red", "RLAIF: judge reward (rating-1)/4 x 10"),
        ):
            steps, rewards = zip(*rl[arm]["metrics"]["reward_curve"], strict=True)
            curves.plot(steps, rewards, color=colour, alpha=0.7, label=label if k == 0 else None)
        last = rl["judge (RLAIF)"]["metrics"]["rewards/verifiable/mean"]
        curves.scatter(
            [steps[-1]],
            [last],
            color="tab:red",
            marker="x",
            s=40,
            zorder=3,
            label="RLAIF: verifier reward at weight 0, last step" if k == 0 else None,
        )
    curves.set_xlabel("step (32 completions each)")
    curves.set_ylabel("training reward (x10 scale)")
    curves.set_title(f"reward curves, {len(seeds)} seeds", fontsize=10)
    curves.legend(fontsize=7, frameon=False)
    arms = {
        "DPO, shipped pairs": ("dpo", "shipped pairs (the run's dpo)"),
        "DPO, verifier pairs": ("dpo", "onpolicy pairs"),
        "DPO, judge pairs": ("dpo", "judge pairs"),
        "RLVR": ("rl", "verifier (the run's rlvr)"),
        "RLAIF": ("rl", "judge (RLAIF)"),
    }
    shown = {
        name: [100 * seed[section][arm]["scores"]["average"] for seed in seeds]
        for name, (section, arm) in arms.items()
        if all(arm in seed.get(section, {}) for seed in seeds)
    }
    for position, averages in enumerate(shown.values()):
        error = statistics.stdev(averages) if len(averages) > 1 else 0
        bars.bar(position, statistics.fmean(averages), yerr=error, color="lightgray")
        bars.scatter([position] * len(averages), averages, color="black", s=10, zorder=3)
    bars.set_xticks(range(len(shown)), list(shown), fontsize=8)
    bars.set_ylabel("held-out average (%), dots = seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def eval_answers(run_name: str, stage_name: str) -> list[dict]:
    path = REPO_ROOT / "runs" / run_name / "eval" / f"{stage_name}.generations.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def bare_answer_share(run_name: str, stage_name: str) -> float:
    """The share of gsm8k answers that are only "The answer is N." (the form the SmolLM2 judge rates highest)."""
    gsm8k = [r["response"].strip() for r in eval_answers(run_name, stage_name) if r["benchmark"] == "gsm8k"]
    return round(sum(text.startswith("The answer is") for text in gsm8k) / len(gsm8k), 3)


def letter_case(run_name: str, stage_name: str) -> dict:
    """From the eval's IFEval answers: the share in lowercase where the prompt asks for it, the share in capitals over
    all of them."""
    rows = eval_answers(run_name, stage_name)
    ifeval = [r for r in rows if r["benchmark"] == "ifeval" and any(c.isalpha() for c in r["response"])]
    asked = [r for r in ifeval if "change_case:english_lowercase" in r["ground_truth"]]
    return {
        "lowercase_asked": len(asked),
        "lowercase_when_asked": round(sum(r["response"] == r["response"].lower() for r in asked) / len(asked), 3),
        "ifeval_answers": len(ifeval),
        "capitals_share": round(sum(r["response"] == r["response"].upper() for r in ifeval) / len(ifeval), 3),
    }


def rl_metrics(record: dict) -> dict:
    metrics = record["metrics"]
    kept = ("rewards/", "judge/", "verifier/", "train_runtime_s", "reward_curve", "judge_skipped")
    return {k: v for k, v in metrics.items() if k.startswith(kept)}


if __name__ == "__main__":
    start = time.time()
    main()
    print(f"[experiment] total {time.time() - start:.0f}s")
