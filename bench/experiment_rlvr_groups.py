"""What goes into RLVR's groups, aimed at the greedy answer the eval reads: two changes to GRPO's training batches,
over seeds, against the default on the validation set and held out.

    .venv/bin/python bench/experiment_rlvr_groups.py --variant greedy-member|hard-groups [--name NAME]
        [--from default] [--seeds 42 2 7] [--against default] [--trained] [-- overrides for the RLVR run]

Issue 34's question: RL makes sampled answers right far more often than greedy ones (sampled pass@1 +6.8 points,
greedy +1.4: docs/results.md, "RLVR that earns its place"), and the eval is greedy.

- greedy-member: row 0 of every group of 8 is decoded greedily instead of sampled. GRPO's samples at T = 1 seldom are
  the greedy answer; with it in the group, a wrong greedy answer beside right samples gets a negative advantage on
  exactly its tokens, and a right one beside wrong samples a positive one.
- hard-groups: dynamic sampling keeps only the groups in which at most half the completions score above the group's
  mean (about: at most half are right), and refills the rest as it refills groups of one reward. A group that is mostly
  right is one whose greedy answer is most likely right already; its update mostly pushes down the wrong tail, which
  raises sampled pass@1 and leaves the greedy answer where it was.

1. `<from>-s<seed>`'s SFT and DPO checkpoints and their eval results are copied into `<name>-s<seed>`
   (measure.copy_parents); `stages.pipeline run_name=<name> seeds=[...]` runs in this process with the variant
   patched in: greedy-member replaces GRPO's trainer with one whose generation decodes the first row of each group
   greedily (TRL's private `_generate_single_turn`; the refill rounds generate through it too), hard-groups replaces
   the group filter of stages/rl/sampling.py. Everything else is the default's;
2. scores RLVR of `<name>-s<seed>` and `<against>-s<seed>` on the validation set (measure.validation) and held out
   (the pipeline's own eval) and prints the difference, paired over seeds and prompts, and each recipe's RLVR − DPO.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys

# bench/measure.py (the script directory is on sys.path)
from measure import (
    REPO_ROOT,
    comparison,
    comparison_cells,
    copy_parents,
    family_means,
    mean_sd,
    prompt_scores,
    validation,
)

sys.path.insert(0, str(REPO_ROOT))  # stages, eval
RUNS = REPO_ROOT / "runs"


def greedy_member() -> None:
    """GRPO's trainer, in training, decodes row 0 of every group greedily and samples the others as TRL does."""
    import stages.rlvr

    class GreedyMember:
        """Mixin before TRL's GRPOTrainer: in training, row 0 of every group of `num_generations` prompt rows is
        decoded greedily, the others sampled as TRL does."""

        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, **kwargs):
            size = self.num_generations
            if not self.model.training or self.use_vllm or images is not None or len(prompt_ids) % size:
                return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations, **kwargs)
            greedy_rows = [i for i in range(len(prompt_ids)) if i % size == 0]
            sampled_rows = [i for i in range(len(prompt_ids)) if i % size]
            sampled, _ = super()._generate_single_turn(
                [prompt_ids[i] for i in sampled_rows], images, multimodal_fields, num_generations, **kwargs
            )
            sampling = self.generation_config
            self.generation_config = copy.deepcopy(sampling)
            self.generation_config.update(do_sample=False, temperature=None, top_p=None, top_k=None, min_p=None)
            try:
                greedy, _ = super()._generate_single_turn(
                    [prompt_ids[i] for i in greedy_rows], images, multimodal_fields, num_generations, **kwargs
                )
            finally:
                self.generation_config = sampling
            completions = [None] * len(prompt_ids)
            for rows, ids in ((sampled_rows, sampled), (greedy_rows, greedy)):
                for row, completion in zip(rows, ids, strict=True):
                    completions[row] = completion
            return completions, None  # TRL's own generation path returns no sampling log-probs either

    class GreedyMemberGRPO(GreedyMember, stages.rlvr.TRAINERS["grpo"]):
        pass

    stages.rlvr.TRAINERS["grpo"] = GreedyMemberGRPO


def hard_groups() -> None:
    """Dynamic sampling keeps a group only if some advantage is not 0 and at most half of them are above 0."""
    import torch

    import stages.rl.sampling

    informative = stages.rl.sampling.informative_groups

    def at_most_half_above_the_mean(advantages: torch.Tensor, group_size: int, tolerance: float = 1e-6) -> list[int]:
        above = (advantages.view(-1, group_size) > tolerance).sum(dim=1)
        return [g for g in informative(advantages, group_size, tolerance) if above[g] <= group_size // 2]

    stages.rl.sampling.informative_groups = at_most_half_above_the_mean


VARIANTS = {"greedy-member": greedy_member, "hard-groups": hard_groups}


def train(variant: str, name: str, seeds: list[int], overrides: list[str]) -> None:
    """The pipeline over `seeds` (SFT and DPO reused) with the variant patched into RLVR."""
    VARIANTS[variant]()
    from stages.pipeline import main

    sys.argv = [sys.argv[0], f"run_name={name}", f"seeds=[{','.join(map(str, seeds))}]", "logging=none", *overrides]
    main()


def held_out(run_name: str, stage: str) -> dict:
    """{(benchmark, prompt id): score} of the stage's checkpoint on the core benchmarks (the pipeline's own eval)."""
    return prompt_scores(RUNS / run_name / "eval" / f"{stage}.generations.jsonl")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    parser.add_argument("--name", help="the runs: <name>-s<seed> (default: the variant's name)")
    parser.add_argument("--from", dest="source", default="default", help="the runs whose SFT and DPO are reused")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 2, 7])
    parser.add_argument("--against", default="default", help="the default's runs, <against>-s<seed>")
    parser.add_argument("--trained", action="store_true", help="the <name>-s<seed> runs exist: score and compare")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the RLVR run")
    args = parser.parse_args()
    args.name = args.name or args.variant
    if not args.trained:
        for seed in args.seeds:
            copy_parents(RUNS, f"{args.source}-s{seed}", f"{args.name}-s{seed}")
        train(args.variant, args.name, args.seeds, args.overrides)
    report = {}
    for where, scores_of in (("validation", lambda r, st: prompt_scores(validation(r, st))), ("held out", held_out)):
        scores = {
            (recipe, stage): {s: scores_of(f"{recipe}-s{s}", stage) for s in args.seeds}
            for recipe in (args.against, args.name)
            for stage in ("dpo", "rlvr")
        }
        versus = comparison(scores[(args.against, "rlvr")], scores[(args.name, "rlvr")], args.seeds)
        print(f"\n{where}: RLVR {args.name} - {args.against}, paired over seeds and prompts:")
        print("  " + comparison_cells(versus))
        print("  per seed (average): " + ", ".join(f"{s} {d:+.1f}" for s, d in versus["average"]["per_seed"].items()))
        report[where] = {"versus": versus}
        for recipe in (args.against, args.name):
            gains = comparison(scores[(recipe, "dpo")], scores[(recipe, "rlvr")], args.seeds)
            means = [family_means(scores[(recipe, "rlvr")][s]) for s in args.seeds]
            print(f"  {recipe}: RLVR - DPO " + comparison_cells(gains))
            print("    per seed: " + ", ".join(f"{s} {d:+.1f}" for s, d in gains["average"]["per_seed"].items()))
            print("    RLVR means: " + ", ".join(f"{f} {mean_sd([m[f] for m in means])}" for f in means[0]))
            report[where][recipe] = {"rlvr_minus_dpo": gains}
    walls = [
        json.loads((RUNS / f"{args.name}-s{s}" / "rlvr" / "manifest.json").read_text()).get("wall_time_s")
        for s in args.seeds
    ]
    print(f"\nRLVR wall ({args.name}): " + ", ".join(f"{w:.0f} s" for w in walls if w))
    (RUNS / f"{args.name}-vs-{args.against}.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
