"""SFT publishing an exponential moving average (EMA) of its weights in place of the last iterate, through the whole
chain over seeds, against the default on the validation set.

    .venv/bin/python bench/experiment_sft_ema.py --decay 0.998 [--name ema998] [--seeds 42 2 7] [--against default]
        [--trained]

Issue 36's question: math's spread across seeds is made in SFT's end state (docs/results.md, "Where math's spread
enters"). Does averaging the weights along SFT's trajectory, a common way to take the noise of the last updates out
of a model, make the seeds' checkpoints alike?

1. `stages.pipeline run_name=<name> seeds=[...]` in this process, with a callback on SFT's trainer that keeps
   torch's EMA of the parameters (`torch.optim.swa_utils.AveragedModel`, updated after every optimizer step) and
   copies it into the model when training ends, so the checkpoint SFT publishes, and DPO and RLVR start from, is the
   average. The training itself is untouched: the last iterate, kept as runs/<name>-s<seed>/work/sft/last_iterate.pt,
   is the default's SFT checkpoint bit for bit;
2. scores each stage of `<name>-s<seed>` and `<against>-s<seed>` on the validation set (measure.validation) and prints
   the EMA against the default, paired over seeds and prompts, and each recipe's means ± sd over the seeds.
"""

from __future__ import annotations

import argparse
import sys

# bench/measure.py (the script directory is on sys.path)
from measure import REPO_ROOT, comparison, comparison_cells, family_means, mean_sd, prompt_scores, validation

sys.path.insert(0, str(REPO_ROOT))  # stages
STAGES = ("sft", "dpo", "rlvr")


def train_with_ema(name: str, decay: float, seeds: list[int]) -> None:
    """The pipeline over `seeds`, SFT publishing the EMA of its weights."""
    from pathlib import Path

    import torch
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    from transformers import TrainerCallback

    import stages.sft

    class PublishTheAverage(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))

        def on_step_end(self, args, state, control, model=None, **kwargs):
            self.average.update_parameters(model)

        def on_train_end(self, args, state, control, model=None, **kwargs):
            torch.save(model.state_dict(), Path(args.output_dir) / "last_iterate.pt")
            with torch.no_grad():
                for mine, averaged in zip(model.parameters(), self.average.module.parameters(), strict=True):
                    mine.copy_(averaged)

    plain = stages.sft.trainer_class

    def trainer_class(options):
        class AveragingTrainer(plain(options)):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.add_callback(PublishTheAverage())

        return AveragingTrainer

    stages.sft.trainer_class = trainer_class
    from stages.pipeline import main

    sys.argv = [sys.argv[0], f"run_name={name}", f"seeds=[{','.join(map(str, seeds))}]"]
    main()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decay", type=float, required=True)
    parser.add_argument("--name", help="the runs: <name>-s<seed> (default ema<decay's digits>)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 2, 7])
    parser.add_argument("--against", default="default", help="the default's runs, <against>-s<seed>")
    parser.add_argument("--trained", action="store_true", help="the <name>-s<seed> runs exist: score and compare")
    args = parser.parse_args()
    name = args.name or "ema" + str(args.decay).split(".")[-1]
    if not args.trained:
        train_with_ema(name, args.decay, args.seeds)
    print(f"\nvalidation set (900 problems), points; {name} - {args.against}, paired over seeds and prompts:")
    for stage in STAGES:
        recipes = (args.against, name)
        scores = {r: {s: prompt_scores(validation(f"{r}-s{s}", stage)) for s in args.seeds} for r in recipes}
        versus = comparison(scores[args.against], scores[name], args.seeds)
        print(f"  {stage}: " + comparison_cells(versus))
        for recipe, per_seed in scores.items():
            means = [family_means(per_seed[s]) for s in args.seeds]
            cells = (f"{f} {mean_sd([m[f] for m in means])}" for f in means[0])
            print(f"    {recipe}: " + ", ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
