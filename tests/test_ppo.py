"""`rlvr=ppo`: PPO with a learned value model over TRL's GRPO rollouts — GAE, the KL penalty in the reward, the
clipped value loss — and a run that trains both the policy and the value model."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import QUICK_RLVR, compose

from stages.rl.ppo import clipped_value_loss, gae, token_rewards, whiten


def test_gae_is_the_discounted_sum_of_td_errors_over_each_rows_own_tokens():
    rewards = torch.tensor([[0.0, 0.5, 1.0, 0.0], [2.0, 0.0, 0.0, 0.0]])
    values = torch.tensor([[0.3, 0.2, 0.4, 9.0], [0.7, 9.0, 9.0, 9.0]])  # 9 = garbage where there is no token
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    gamma, lam = 0.9, 0.8
    advantages, returns = gae(rewards, values, mask, gamma, lam)
    for row in range(2):
        n = int(mask[row].sum())
        v = values[row, :n].tolist() + [0.0]  # the episode ends after the last token
        deltas = [rewards[row, t].item() + gamma * v[t + 1] - v[t] for t in range(n)]
        for t in range(n):
            expected = sum((gamma * lam) ** k * deltas[t + k] for k in range(n - t))
            assert advantages[row, t].item() == pytest.approx(expected, abs=1e-6)
            assert returns[row, t].item() == pytest.approx(expected + v[t], abs=1e-6)
    assert (advantages[mask == 0] == 0).all() and (returns[mask == 0] == 0).all()


def test_the_kl_penalty_is_paid_per_token_and_the_reward_at_the_last_token():
    logps = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -1.0, -1.0]])
    ref = torch.tensor([[-1.5, -2.0, -0.5], [-0.5, -1.0, -7.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    rewards, kl = token_rewards(torch.tensor([10.0, -10.0]), logps, ref, mask, kl_coef=0.1)
    assert torch.allclose(rewards, torch.tensor([[-0.05, 0.0, 10.0], [0.05, -10.0, 0.0]]))
    assert torch.allclose(kl, torch.tensor([[0.5, 0.0, 0.0], [-0.5, 0.0, 0.0]]))


def test_advantages_are_whitened_over_real_tokens_only():
    values = torch.tensor([[1.0, 2.0, 100.0], [3.0, 4.0, -100.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 0]])
    out = whiten(values, mask)
    real = out[mask.bool()]
    assert real.mean().item() == pytest.approx(0.0, abs=1e-6) and real.std().item() == pytest.approx(1.0, abs=1e-5)
    assert (out[~mask.bool()] == 0).all()


def test_the_value_loss_is_clipped_around_the_old_values():
    returns, old = torch.tensor([[1.0]]), torch.tensor([[0.0]])
    mask = torch.ones(1, 1)
    # a value that jumped past the clip range towards the return is charged as if it had stopped at the clip
    assert clipped_value_loss(torch.tensor([[0.9]]), old, returns, mask, clip=0.2).item() == pytest.approx(0.5 * 0.8**2)
    # inside the clip range it is the plain squared error
    assert clipped_value_loss(torch.tensor([[0.1]]), old, returns, mask, clip=0.2).item() == pytest.approx(0.5 * 0.9**2)


def test_a_ppo_run_trains_the_policy_and_its_value_model(sft_run):
    from runtime import layout
    from stages import rlvr

    cfg = compose(
        [
            f"runs_dir={sft_run.runs_dir}",
            "run_name=ppo",
            "rlvr=ppo",
            *QUICK_RLVR,
            "rlvr.max_steps=3",
            "rlvr.num_generations=2",
            f"rlvr.parent={layout.stage_dir(sft_run, 'sft')}",
            "data.rlvr.0.max_rows=32",
        ]
    )
    rlvr.run(cfg)
    manifest = layout.read_manifest(layout.stage_dir(cfg, "rlvr"))
    assert manifest["status"] == "complete" and manifest["config"]["rlvr"]["trainer"] == "ppo"
    metrics = manifest["metrics"]
    assert metrics["global_step"] == 3
    for key in ("ppo/value_loss", "ppo/kl", "ppo/sequence_reward", "ppo/value_mean"):
        assert math.isfinite(metrics[key]), key


def test_ppo_refuses_what_it_cannot_do():
    from runtime import config

    with pytest.raises(config.ConfigError, match="PPO has no groups"):
        config.validate(compose(["rlvr=ppo", "rlvr.dynamic_sampling=true"]))
    with pytest.raises(config.ConfigError, match="rlvr.value_model='critic'"):
        config.validate(compose(["rlvr=ppo", "rlvr.value_model=critic"]))


def test_the_value_model_learns_the_return(sft_run):
    """Every answer is worth 5: the value model's estimate climbs towards it step by step."""
    from datasets import Dataset

    from runtime import layout, models, training
    from stages import rlvr
    from stages.rl.ppo import value_model_from

    cfg = compose([f"runs_dir={sft_run.runs_dir}", "run_name=shared", "rlvr=ppo", *QUICK_RLVR, "rlvr.max_steps=6"])
    _, args = training.trainer_args(cfg, "rlvr")
    parent = layout.stage_dir(cfg, "sft")
    model, tokenizer = models.load_model_and_tokenizer(cfg, parent, trainable=True)
    trainer = rlvr.PPOWithValue(
        model=model,
        reward_funcs=[lambda completions, **_: [5.0] * len(completions)],
        args=args,
        train_dataset=Dataset.from_list([{"prompt": [{"role": "user", "content": f"q{i}"}]} for i in range(32)]),
        processing_class=tokenizer,
        value_model=value_model_from(parent),
        value_learning_rate=3e-3,
    )
    trainer.train()
    estimates = [entry["ppo/value_mean"] for entry in trainer.state.log_history if "ppo/value_mean" in entry]
    losses = [entry["ppo/value_loss"] for entry in trainer.state.log_history if "ppo/value_loss" in entry]
    assert len(estimates) == 6 and estimates[-1] > estimates[0] + 1.0
    assert losses[-1] < losses[0]
