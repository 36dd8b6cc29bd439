"""Reward model: classic RLHF's learned reward, a thin recipe over TRL's RewardTrainer. Not part of `make pipeline`:
it is what `rlvr.reward=rm|both` trains against and what the eval suite's `rm` scorer ranks samples with.

    python -m stages.rm [key=value ...]        (or: make rm ARGS="...")

config -> preference pairs (data.preference) + held-out pairs (data.preference_eval, else rm.heldout_share of the
pairs) -> parent causal LM (the run's SFT checkpoint) with a one-output head -> RewardTrainer (Bradley-Terry loss:
-log sigmoid(r(chosen) - r(rejected))) -> pairwise accuracy on the held-out pairs -> runs/<run_name>/rm/ +
manifest.json
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a command: a typo in the config fails here, before torch and TRL load
    from runtime.cli import check_command_line

    check_command_line()

from omegaconf import DictConfig
from transformers import TrainerCallback, set_seed
from trl import RewardTrainer

from data.loading import describe, load_preference
from runtime import checkpoints, cli, console, models, reward_model, tracking, training


def run(cfg: DictConfig) -> str:
    options, args = training.trainer_args(cfg, "rm")  # the trainer's `args`, and what the manifest records
    if checkpoints.reuse_checkpoint(cfg, "rm", options, args, data_key="preference"):
        return "reused"

    # Data first: a malformed row fails here, before a model is loaded; identical pairs are skipped and counted.
    pairs = load_preference(cfg.data.preference)
    if cfg.data.preference_eval:
        train_pairs, heldout = pairs, load_preference(cfg.data.preference_eval)
        heldout_source = describe(cfg.data.preference_eval, heldout)
    else:
        split = pairs.train_test_split(test_size=options.heldout_share, seed=args.seed)
        train_pairs, heldout = split["train"], split["test"]
        heldout_source = {"rm.heldout_share": options.heldout_share, "rows": len(heldout)}
    parent = models.resolve_parent(cfg, options.parent)
    record = checkpoints.StageRecord(
        cfg,
        "rm",
        options,
        args,
        parent=parent,
        data_key="preference",
        data={**describe(cfg.data.preference, train_pairs), "heldout": heldout_source},
    )

    set_seed(args.seed)  # the new head's initial weights
    model, tokenizer = reward_model.load_reward_model(
        cfg, parent, trainable=True
    )  # the parent's causal LM + a one-output head
    trainer = RewardTrainer(model=model, args=args, train_dataset=train_pairs, processing_class=tokenizer)
    record.args = trainer.args
    tracking.init_tracking(cfg, "rm", record.tracked())
    tracking.log_metrics_only(trainer)
    before = AccuracyBeforeTraining(tokenizer, heldout)
    trainer.add_callback(before)
    result = training.train(trainer, cfg, record)

    accuracy = pairwise_accuracy(trainer.model, tokenizer, heldout)
    log = trainer.state.log_history
    record.metrics.update(
        {
            "heldout_pairs": len(heldout),
            # after a resume: the resumed model's, not the untrained head's
            "heldout_pairwise_accuracy_before": before.result["accuracy"],
            "heldout_pairwise_accuracy": accuracy["accuracy"],
            "heldout_mean_margin": accuracy["mean_margin"],
            "train_pairwise_accuracy_last_logged": (training.loss_trajectory(log, "accuracy") or [None])[-1],
            **training.training_metrics(trainer, result),
        }
    )
    checkpoint = record.publish(trainer, tokenizer)
    tracking.finish_tracking(cfg, {f"rm/{k}": v for k, v in record.metrics.items()})
    console.print_summary(
        f"reward model complete: {checkpoint}",
        {"parent": str(parent), "pairs": f"{len(train_pairs)} train, {len(heldout)} held out", **record.metrics},
    )
    return "trained"


class AccuracyBeforeTraining(TrainerCallback):
    """The held-out accuracy of the model as training starts, measured once the trainer has prepared it: under
    DeepSpeed ZeRO-3 the weights are partitioned from the moment they load, and a forward pass gathers them only once
    the engine exists. Every rank measures (the gathers are collective)."""

    def __init__(self, tokenizer, pairs):
        self.tokenizer, self.pairs, self.result = tokenizer, pairs, None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.result = pairwise_accuracy(model, self.tokenizer, self.pairs)


def pairwise_accuracy(model, tokenizer, pairs) -> dict[str, float]:
    """The share of pairs whose chosen response the model scores strictly above the rejected one (a tie counts as
    wrong), and the mean score margin."""
    was_training = model.training
    model.eval()
    conversations = [p + c for p, c in zip(pairs["prompt"], pairs["chosen"])]
    conversations += [p + r for p, r in zip(pairs["prompt"], pairs["rejected"])]
    scores = reward_model.score_conversations(model, tokenizer, conversations)
    model.train(was_training)
    n = len(pairs)
    margins = [chosen - rejected for chosen, rejected in zip(scores[:n], scores[n:])]
    return {
        "accuracy": sum(margin > 0 for margin in margins) / n if n else 0.0,
        "mean_margin": sum(margins) / n if n else 0.0,
    }


main = cli.stage_main(run)

if __name__ == "__main__":
    main()
