"""The reward-model stage (`make rm`) and what consumes it: RLVR with rlvr.reward=rm|both and the dense process
reward, from the shared tiny SFT checkpoint."""

from __future__ import annotations

import math

import pytest
from helpers import QUICK_RLVR, compose

QUICK_RM = [
    "logging=none",
    "rm.max_steps=20",
    "rm.logging_steps=5",
    "rm.per_device_train_batch_size=16",
    "data.preference.0.max_rows=320",
    "data.preference_eval.0.max_rows=60",
]


@pytest.fixture(scope="module")
def rm_run(sft_run):
    from stages import rm

    cfg = compose([f"runs_dir={sft_run.runs_dir}", "run_name=shared", *QUICK_RM])
    rm.run(cfg)
    return cfg


def test_the_reward_model_stage_writes_a_checkpoint_that_scores_and_reports_pairwise_accuracy(rm_run):
    from data.loading import load_preference
    from runtime import layout, reward_model

    checkpoint = layout.stage_dir(rm_run, "rm")
    manifest = layout.read_manifest(checkpoint)
    assert manifest["status"] == "complete" and manifest["stage"] == "rm"
    assert manifest["parent"] == str(layout.stage_dir(rm_run, "sft"))
    assert (checkpoint / "model.safetensors").exists() and (checkpoint / "tokenizer.json").exists()
    metrics = manifest["metrics"]
    assert metrics["global_step"] == 20 and metrics["heldout_pairs"] == 60
    assert metrics["first_logged_loss"] == pytest.approx(math.log(2), abs=0.05)  # a new head: r(c) ~ r(r)
    assert metrics["last_logged_loss"] < metrics["first_logged_loss"]
    assert 0.0 <= metrics["heldout_pairwise_accuracy"] <= 1.0
    assert manifest["data"]["heldout"]["rows"] == 60
    assert manifest["config"]["rm"]["center_rewards_coefficient"] == 0.01  # the RewardConfig as it ran

    # The published checkpoint reloads as a one-output classifier; its held-out accuracy is what the manifest says.
    model, tokenizer = reward_model.load_reward_model(rm_run, checkpoint, trainable=False)
    pairs = load_preference(rm_run.data.preference_eval)
    scores = reward_model.score_conversations(
        model,
        tokenizer,
        [p + c for p, c in zip(pairs["prompt"], pairs["chosen"])]
        + [p + r for p, r in zip(pairs["prompt"], pairs["rejected"])],
    )
    n = len(pairs)
    assert sum(c > r for c, r in zip(scores[:n], scores[n:])) / n == pytest.approx(metrics["heldout_pairwise_accuracy"])


def test_without_held_out_pairs_a_seeded_share_of_the_training_pairs_is_held_out(sft_run):
    from runtime import layout
    from stages import rm

    cfg = compose(
        [
            f"runs_dir={sft_run.runs_dir}",
            "run_name=rm-split",
            "rm.parent=" + str(layout.stage_dir(sft_run, "sft")),
            *QUICK_RM[:-1],
            "rm.max_steps=2",
            "data.preference_eval=[]",
            "rm.heldout_share=0.25",
        ]
    )
    rm.run(cfg)
    manifest = layout.read_manifest(layout.stage_dir(cfg, "rm"))
    assert manifest["data"]["rows"] == 240 and manifest["metrics"]["heldout_pairs"] == 80


def test_rlvr_with_the_reward_model_fails_before_any_generation_naming_the_missing_checkpoint(sft_run, tmp_path):
    from stages import rlvr

    cfg = compose(
        [
            f"runs_dir={tmp_path}",
            "run_name=no-rm",
            *QUICK_RLVR,
            "data.rlvr.0.max_rows=32",
            f"rlvr.parent={sft_run.runs_dir}/shared/sft",
            "rlvr.reward=rm",
        ]
    )
    with pytest.raises(SystemExit) as error:
        rlvr.run(cfg)
    assert str(tmp_path / "no-rm" / "rm") in str(error.value) and "make rm" in str(error.value)
    assert not (tmp_path / "no-rm" / "work").exists()  # nothing was generated or trained


def rl_against(rm_run, reward_model_dir, *overrides):
    """An RL run (run_name=rm-rl) from the shared SFT checkpoint against the reward model in `reward_model_dir`."""
    from runtime import layout
    from stages import rlvr

    cfg = compose(
        [
            f"runs_dir={rm_run.runs_dir}",
            "run_name=rm-rl",
            *QUICK_RLVR,
            "data.rlvr.0.max_rows=32",
            f"rlvr.parent={layout.stage_dir(rm_run, 'sft')}",
            f"rlvr.reward_model={reward_model_dir}",
            *overrides,
        ]
    )
    return rlvr.run(cfg), layout.read_manifest(layout.stage_dir(cfg, "rlvr"))


def test_grpo_with_verifier_plus_reward_model_plus_process_reward_logs_each(rm_run):
    from runtime import layout

    status, manifest = rl_against(
        rm_run, layout.stage_dir(rm_run, "rm"), "rlvr.reward=both", "rlvr.rm_weight=2.0", "rlvr.process_reward=1.0"
    )
    assert status == "trained"
    metrics = manifest["metrics"]
    assert manifest["config"]["rlvr"]["reward_weights"] == [1.0, 2.0]  # what TRL summed with, as recorded
    assert manifest["data"]["reward_model"]["id"] == layout.read_manifest(layout.stage_dir(rm_run, "rm"))["id"]
    for key in ("rewards/verifiable/mean", "rewards/rm/mean", "process/score"):
        assert math.isfinite(metrics[key]), key
    assert 0.0 <= metrics["process/score"] <= 1.0


def test_an_rl_checkpoint_is_reused_only_against_the_same_reward_model_by_content(rm_run):
    from runtime import layout
    from stages import rm

    def train_reward_model(steps: int):
        cfg = compose([f"runs_dir={rm_run.runs_dir}", "run_name=rm-other", *QUICK_RM, f"rm.max_steps={steps}"])
        cfg.rm.parent = str(layout.stage_dir(rm_run, "sft"))
        rm.run(cfg)
        return layout.stage_dir(cfg, "rm")

    path = train_reward_model(3)
    assert rl_against(rm_run, path, "rlvr.reward=rm")[0] == "trained"
    assert rl_against(rm_run, path, "rlvr.reward=rm")[0] == "reused"
    assert train_reward_model(4) == path  # another reward model in the same place: same RL config, new content
    status, manifest = rl_against(rm_run, path, "rlvr.reward=rm")
    assert status == "trained" and manifest["data"]["reward_model"]["id"] == layout.read_manifest(path)["id"]


def test_ppo_starts_its_value_model_from_the_reward_model_and_keeps_its_trained_head(rm_run):
    import torch

    from runtime import layout, reward_model
    from stages.rl.ppo import value_model_from

    path = layout.stage_dir(rm_run, "rm")
    value = value_model_from(path)
    scorer, _ = reward_model.load_reward_model(rm_run, path, trainable=False)
    assert torch.equal(value.score.weight, scorer.score.weight)  # the reward model's head, not a fresh one
    status, manifest = rl_against(rm_run, path, "rlvr=ppo", "rlvr.num_generations=2", "rlvr.value_model=rm")
    assert status == "trained" and manifest["data"]["reward_model"]["id"] == layout.read_manifest(path)["id"]
    assert manifest["config"]["rlvr"]["reward_weights"] is None  # the verifier pays; the reward model only values
    assert math.isfinite(manifest["metrics"]["ppo/value_loss"])


def test_config_rejects_an_unknown_reward_or_scorer_before_any_work():
    from runtime.config import ConfigError, validate

    for override, named in (("rlvr.reward=learned", "rlvr.reward"), ("eval.scorers=[process,oracle]", "eval.scorers")):
        with pytest.raises(ConfigError, match=named):
            validate(compose([override]))
    with pytest.raises(ConfigError, match="rm.parent"):
        validate(compose(["rm.parent=rlvr"]))  # a reward model starts from a policy before RL, not after
