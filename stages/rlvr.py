"""Reinforcement learning with verifiable rewards: the last stage of the Tülu 3 recipe, over TRL's GRPOTrainer
(or RLOOTrainer with `rlvr=rloo`).

    python -m stages.rlvr [key=value ...]        (or: make rlvr ARGS="...")

config -> parent model (the run's DPO checkpoint by default) -> RLVR prompts -> reward = verifier score x (10 +
process_reward x the step checker's score) (rlvr.reward=rm|both: the reward model's score, TRL's reward_funcs;
rlvr.reward=judge: an LM judge's rating against a constitution, RLAIF, stages/rl/judge_reward.py) ->
GRPOTrainer (rlvr.tools: multi-turn rollouts that call them, the results masked out of the loss; the tool_call
verifier reads the transcript) -> train -> runs/<run_name>/rlvr/ + manifest.json

GRPO (what Tülu 3.1 moved to) and RLOO replace a value model with a baseline computed from several samples per
prompt; `rlvr=ppo` is Tülu 3's PPO with a learned value model (stages/rl/ppo.py), which TRL 1.16 no longer ships.
What RL recipes share (the reward, timing, log-probs, sampling, the hacking watch) lives in stages/rl/.
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a command: a typo in the config fails here, before torch and TRL load
    from runtime.cli import check_command_line

    check_command_line()

from omegaconf import DictConfig
from trl import GRPOTrainer, RLOOTrainer
from trl.rewards import get_soft_overlong_punishment

from data.loading import describe, load_rlvr
from rewards import VerifierPool
from rewards.tools import resolve_tools
from runtime import checkpoints, cli, console, generation, judge, layout, models, reward_model, tracking, training
from runtime.lineage import checkpoint_id
from stages.rl import curriculum
from stages.rl.hacking import RewardHackingWatch, heldout_evaluator
from stages.rl.judge_reward import JudgeReward
from stages.rl.logps import PaddingFreeLogps
from stages.rl.ppo import ValueModelPPO, value_model_from
from stages.rl.reward import VerifiableReward, reward_code_id
from stages.rl.sampling import DynamicSampling
from stages.rl.timing import StepTimes, mean_times


def run(cfg: DictConfig) -> str:
    options, args = training.trainer_args(cfg, "rlvr")  # the trainer's `args`, and what the manifest records
    if args.reward_weights is None:  # TRL sums [verifier, reward model or judge, overlong penalty] with these
        weights = [1.0 if options.reward in ("verifier", "both") else 0.0]  # at 0 the verifiers are still logged
        weights += [options.rm_weight] if options.reward in ("rm", "both") else []
        weights += [options.verification_reward] if options.reward == "judge" else []  # its 0..1 on their scale
        weights += [options.verification_reward] * bool(options.overlong_buffer)  # DAPO's is on the reward's scale
        args.reward_weights = weights if len(weights) > 1 else None
    # A reward model that is not there fails first, before a model loads or anything is generated. Trained against
    # (or PPO's value model started from it), it is a second parent: a checkpoint trained against another one (by
    # content) is not reused.
    value_from_rm = options.trainer == "ppo" and options.value_model == "rm"
    needs_rm = options.reward in ("rm", "both") or value_from_rm
    rm_path = reward_model.resolve_reward_model(cfg, options.reward_model) if needs_rm else None
    rm_record = {"path": str(rm_path), "id": checkpoint_id(rm_path)} if rm_path else None
    previous = layout.read_manifest(layout.stage_dir(cfg, "rlvr")) or {}
    same_rm = (previous.get("data") or {}).get("reward_model") == rm_record
    # RLAIF: the judge's constitution is parsed and its model resolved before anything else; it is part of the identity
    judge_id = judge.judge_identity(cfg) if options.reward == "judge" else None
    reward_code = reward_code_id()  # how scores become the reward: part of the identity, as the verifiers are
    if same_rm and checkpoints.reuse_checkpoint(
        cfg, "rlvr", options, args, data_key="rlvr", judge=judge_id, reward_code=reward_code
    ):
        return "reused"

    # Data first: a malformed row or an unknown verifier fails here, before a model is loaded.
    dataset = load_rlvr(cfg.data.rlvr)
    parent = models.resolve_parent(cfg, options.parent)
    data = describe(cfg.data.rlvr, dataset) | ({"reward_model": rm_record} if rm_record else {})
    record = checkpoints.StageRecord(
        cfg, "rlvr", options, args, parent=parent, data_key="rlvr", data=data, judge=judge_id, reward_code=reward_code
    )
    rater = judge.build_judge(cfg) if judge_id else None  # an endpoint is reached before the policy loads
    tools = resolve_tools(options.tools)  # offered in the rollouts: TRL runs the calls and masks their results
    model, tokenizer = models.load_model_and_tokenizer(cfg, parent, trainable=True, tools=bool(tools))

    with VerifierPool(num_workers=options.verifier_workers, timeout_s=options.verifier_timeout_s) as pool:
        selected = None  # what the curriculum kept, for the manifest
        if options.curriculum_samples:  # prompts the starting policy always or never solves are left out
            identity = {
                "parent": record.parent_id,
                "data": data["fingerprint"],
                "samples": options.curriculum_samples,
                "temperature": args.temperature,
                "max_new_tokens": args.max_completion_length,
                "prompts": options.curriculum_prompts,
                "seed": args.seed,
            }
            dataset, selected = curriculum.select(
                dataset,
                layout.shared_cache(cfg, "pass_rates"),
                identity,
                lambda rows: curriculum.pass_rates(
                    model,
                    tokenizer,
                    rows,
                    pool,
                    samples=options.curriculum_samples,
                    temperature=args.temperature,
                    max_new_tokens=args.max_completion_length,
                ),
            )
        reward = VerifiableReward(
            pool,
            verification_reward=options.verification_reward,
            nonstop_penalty=options.nonstop_penalty,
            format_reward=options.format_reward,
            process_reward=options.process_reward,
            eos_token_ids=generation.eos_token_ids(model, tokenizer),  # the ids TRL stops generation at
            tools=bool(tools),
        )
        # With a reward model, TRL scores prompt + completion with it and sums the weighted rewards. The verifier
        # reward stays in the list (weight 0 with reward=rm) so that its score is logged beside the RM's.
        reward_funcs, processing_classes = [reward], [None]
        if options.reward in ("rm", "both"):
            rm, rm_tokenizer = reward_model.load_reward_model(cfg, rm_path, trainable=False)
            reward_funcs.append(rm)
            processing_classes.append(rm_tokenizer)
        judge_reward = None
        if rater is not None:
            judge_reward = JudgeReward(
                rater,
                nonstop_penalty=options.nonstop_penalty,
                weight=options.verification_reward,
                eos_token_ids=generation.eos_token_ids(model, tokenizer),
            )
            reward_funcs.append(judge_reward)
            processing_classes.append(None)
        if options.overlong_buffer:  # DAPO's soft overlong punishment: 0 down to -1 over the last tokens allowed
            reward_funcs.append(get_soft_overlong_punishment(args.max_completion_length, options.overlong_buffer))
            processing_classes.append(None)
        trainer = TRAINERS[options.trainer](
            model=model,
            reward_funcs=reward_funcs,
            reward_processing_classes=processing_classes,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            padding_free=options.padding_free,
            share_prompts=options.share_prompts,
            **trainer_options(options, rm_path if value_from_rm else parent),
            **({"tools": tools} if tools else {}),
        )
        record.args = trainer.args
        tracking.init_tracking(cfg, "rlvr", record.tracked())
        tracking.log_metrics_only(trainer)
        watch = None
        if options.heldout_eval_steps > 0:
            evaluate = heldout_evaluator(cfg, options, trainer.model, tokenizer, pool)
            watch = RewardHackingWatch(evaluate, options.heldout_eval_steps, record=trainer.record_metric)
            trainer.add_callback(watch)
        result = training.train(trainer, cfg, record)

    log = trainer.state.log_history
    rewards = training.loss_trajectory(log, "reward")
    record.metrics.update(
        {
            "first_logged_reward": rewards[0] if rewards else None,
            "last_logged_reward": rewards[-1] if rewards else None,
            "reward_curve": [[entry["step"], entry["reward"]] for entry in log if "reward" in entry],
            **_last_values(
                log,
                (
                    "verifier/",
                    "rewards/",  # TRL's mean/std per reward function (verifiable; rm with a reward model)
                    "process/",
                    "judge/",
                    "hacking/",
                    "tools/",
                    "completions/clipped_ratio",
                    "completions/mean_length",
                    "kl",
                    "frac_reward_zero_std",
                    "dynamic/",
                    "ppo/",
                ),
            ),
            "verifier_errors": reward.errors,
            "verifier_timeouts": reward.timeouts,
            "judge_skipped": judge_reward.skipped if judge_reward else None,
            **mean_times(log),
            "dynamic_sampling": trainer.dynamic_totals if options.dynamic_sampling else None,
            "curriculum": selected,
            "heldout": watch.history if watch else None,
            "reward_hacking_warnings": watch.warnings if watch else [],
            **training.training_metrics(trainer, result),
        }
    )
    checkpoint = record.publish(trainer, tokenizer)
    tracking.finish_tracking(
        cfg, {f"rlvr/{k}": v for k, v in record.metrics.items() if not isinstance(v, (list, dict))}
    )
    summary = {key: value for key, value in record.metrics.items() if not isinstance(value, (list, dict))}
    if watch:
        first, last = watch.history[0]["heldout"], watch.history[-1]["heldout"]
        summary["heldout score (first -> last)"] = f"{first:.3f} -> {last:.3f}"
    console.print_summary(
        f"RLVR ({options.trainer}) complete: {checkpoint}", {"parent": str(parent), "prompts": len(dataset), **summary}
    )
    return "trained"


class GRPOWithTimes(StepTimes, DynamicSampling, PaddingFreeLogps, GRPOTrainer):
    pass


class RLOOWithTimes(StepTimes, DynamicSampling, PaddingFreeLogps, RLOOTrainer):
    pass


class PPOWithValue(StepTimes, ValueModelPPO, PaddingFreeLogps, GRPOTrainer):
    pass


TRAINERS = {"grpo": GRPOWithTimes, "rloo": RLOOWithTimes, "ppo": PPOWithValue}


def trainer_options(options, value_start) -> dict:
    """What the chosen trainer takes beyond TRL's: dynamic sampling for GRPO/RLOO; PPO's value model (started from
    `value_start`: the policy's parent or the reward model) and GAE."""
    if options.trainer != "ppo":
        return {
            "dynamic_sampling": options.dynamic_sampling,
            "dynamic_sampling_max_rounds": options.dynamic_sampling_max_rounds,
        }
    print(f"[rlvr] PPO value model from {value_start} ({options.value_model})")
    return {
        "value_model": value_model_from(value_start),
        "value_learning_rate": options.value_learning_rate,
        "gae_lambda": options.gae_lambda,
        "gamma": options.gae_gamma,
        "value_clip": options.value_clip,
    }


def _last_values(log_history: list[dict], prefixes: tuple[str, ...]) -> dict:
    """The last logged value of every metric whose name starts with one of the prefixes."""
    values = {}
    for entry in log_history:
        for key, value in entry.items():
            if key.startswith(prefixes) and isinstance(value, (int, float)):
                values[key] = value
    return values


main = cli.stage_main(run)

if __name__ == "__main__":
    main()
