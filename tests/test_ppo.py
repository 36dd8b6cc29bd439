"""`rlvr=ppo`: PPO with a learned value model over TRL's GRPO rollouts — GAE, the KL penalty in the reward, the
clipped value loss —, a run that trains both the policy and the value model, the value model's update in two
processes (as one process of the whole batch), replicated or partitioned under ZeRO-3, and a resume that continues the
value model."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
import torch
from helpers import QUICK_RLVR, REPO_ROOT, compose

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


# --------------------------------------------------------------------------------------------------------------
# Several processes: DDP over the value model, the loss and the whitening over every process's tokens

PROCESSES = 2


def tiny_value_model():
    from transformers import LlamaConfig, LlamaForTokenClassification

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_labels=1,
        pad_token_id=0,
    )
    return LlamaForTokenClassification(config).eval()  # as from_pretrained leaves it: no dropout


def rollouts() -> dict:
    """4 rollouts whose completions have 5, 1, 3 and 4 tokens: the two processes' halves hold 6 and 7 tokens."""
    generator = torch.Generator().manual_seed(1)
    completion_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]])
    return {
        "prompt_ids": torch.randint(1, 64, (4, 3), generator=generator),
        "prompt_mask": torch.ones(4, 3, dtype=torch.long),
        "completion_ids": torch.randint(1, 64, (4, 5), generator=generator),
        "completion_mask": completion_mask,
        "returns": torch.randn(4, 5, generator=generator) * completion_mask,
        "old_values": torch.randn(4, 5, generator=generator) * 0.1 * completion_mask,
        "advantages": torch.randn(4, 5, generator=generator) * 3 + 1,
    }


def value_updates(model, batch: dict, total, processes: int) -> torch.nn.Module:
    """Three value updates on `batch`, the model wrapped for `processes` processes; returns the trained module."""
    from stages.rl.ppo import replicated, unwrapped, value_step

    model = replicated(model, torch.device("cpu"), processes)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(3):
        value_step(model, optimizer, batch, clip=0.2, max_grad_norm=1.0, processes=processes, total=total)
    return unwrapped(model)


def process_half(rank: int, rendezvous: str, out: str, naive: bool) -> None:
    """One of two gloo processes: its half of the rollouts; writes its value model and whitened advantages."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=PROCESSES)
    try:

        def all_processes(tensor):
            dist.all_reduce(tensor)
            return tensor

        half = {key: value[2 * rank : 2 * rank + 2] for key, value in rollouts().items()}
        if naive:  # each process trains its own replica on its own rows, normalised by its own tokens
            model = value_updates(tiny_value_model(), half, total=lambda tensor: tensor, processes=1)
            advantages = whiten(half["advantages"], half["completion_mask"])
        else:
            model = value_updates(tiny_value_model(), half, total=all_processes, processes=PROCESSES)
            advantages = whiten(half["advantages"], half["completion_mask"], total=all_processes)
        torch.save({"weights": model.state_dict(), "advantages": advantages}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def in_two_processes(tmp_path: Path, naive: bool) -> list[dict]:
    import torch.multiprocessing as mp

    out = tmp_path / ("naive" if naive else "ddp")
    out.mkdir()
    mp.spawn(process_half, args=(str(tmp_path / f"rendezvous-{out.name}"), str(out), naive), nprocs=PROCESSES)
    return [torch.load(out / f"rank{rank}.pt") for rank in range(PROCESSES)]


def largest_difference(first: dict, second: dict) -> float:
    return max((first[key] - second[key]).abs().max().item() for key in first)


@pytest.mark.slow  # two gloo processes: 12.5 s of `make test`'s 5 minutes (issue 36)
def test_two_processes_update_the_value_model_as_one_process_of_the_whole_batch(tmp_path):
    """Halves of 6 and 7 tokens: DDP's mean of the two gradients, each normalised by the mean tokens per process, is
    the whole batch's gradient. Without it (what ran before: one replica per process, each on its own rows) the
    replicas part ways and neither is the one-process model."""
    batch = rollouts()
    whole = value_updates(tiny_value_model(), batch, total=lambda tensor: tensor, processes=1).state_dict()
    whole_advantages = whiten(batch["advantages"], batch["completion_mask"])
    ranks = in_two_processes(tmp_path, naive=False)
    for rank, result in enumerate(ranks):
        assert largest_difference(result["weights"], whole) < 1e-5
        assert torch.allclose(result["advantages"], whole_advantages[2 * rank : 2 * rank + 2], atol=1e-6)
    naive = in_two_processes(tmp_path, naive=True)
    assert largest_difference(naive[0]["weights"], naive[1]["weights"]) > 1e-3
    assert all(largest_difference(result["weights"], whole) > 1e-3 for result in naive)
    assert not torch.allclose(naive[0]["advantages"], whole_advantages[:2], atol=1e-3)


def process_zero3_half(rank: int, rendezvous: str, out: str) -> None:
    """One of two gloo processes under ZeRO-3: the value model partitioned by `sharded` with the settings of
    conf/deepspeed/zero3.json (the policy's, "auto" included), three updates on its half of the rollouts; writes the
    share of the weights it holds and the whole weights, gathered."""
    import deepspeed
    import torch.distributed as dist

    from stages.rl.ppo import sharded, value_step

    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(PROCESSES))
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=PROCESSES)
    try:

        def all_processes(tensor):
            dist.all_reduce(tensor)
            return tensor

        policy_config = json.loads((REPO_ROOT / "conf" / "deepspeed" / "zero3.json").read_text())
        engine, optimizer = sharded(
            tiny_value_model(), policy_config, 1e-2, max_grad_norm=1.0, micro_batch=2, bf16=False
        )
        half = {key: value[2 * rank : 2 * rank + 2] for key, value in rollouts().items()}
        for _ in range(3):
            value_step(engine, optimizer, half, clip=0.2, max_grad_norm=1.0, processes=PROCESSES, total=all_processes)
        parameters = list(engine.module.parameters())
        held = sum(p.ds_tensor.numel() for p in parameters) / sum(p.ds_numel for p in parameters)
        with deepspeed.zero.GatheredParameters(parameters):
            weights = {key: value.detach().clone() for key, value in engine.module.state_dict().items()}
        torch.save({"weights": weights, "held": held}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two gloo processes starting DeepSpeed
def test_under_zero3_each_process_holds_half_the_value_model_and_they_update_it_as_one_process_of_the_whole_batch(
    tmp_path,
):
    """An 8B value model and its AdamW state fit no one GPU: under ZeRO-3 it is partitioned like the policy, and
    its update is still the whole batch's (ZeRO averages the gradients as DDP does)."""
    import torch.multiprocessing as mp

    whole = value_updates(tiny_value_model(), rollouts(), total=lambda tensor: tensor, processes=1).state_dict()
    mp.spawn(process_zero3_half, args=(str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=PROCESSES)
    for rank in range(PROCESSES):
        result = torch.load(tmp_path / f"rank{rank}.pt")
        assert 0.45 < result["held"] < 0.55
        assert largest_difference(result["weights"], whole) < 1e-5


# --------------------------------------------------------------------------------------------------------------
# Resume: each checkpoint carries the value model and its optimizer


def test_a_resumed_ppo_run_continues_its_value_model(sft_run, tmp_path):
    """An uninterrupted 2-step run against one resumed from its step-1 checkpoint: the same value model at step 2.
    The value model moved in step 1, so one restarted from its initial weights (what resuming did before) would not
    be the same; a checkpoint without the value model is refused, naming the directory."""
    from safetensors.torch import load_file

    from runtime import layout
    from stages import rlvr
    from stages.rl.ppo import value_model_from

    def run(name, resume=None):
        cfg = compose(
            [
                f"runs_dir={sft_run.runs_dir}",
                f"run_name={name}",
                "rlvr=ppo",
                *QUICK_RLVR,
                "rlvr.num_generations=2",
                "rlvr.save_strategy=steps",
                "rlvr.save_steps=1",
                f"rlvr.parent={layout.stage_dir(sft_run, 'sft')}",
                "data.rlvr.0.max_rows=32",
                *([f"resume={resume}"] if resume else []),
            ]
        )
        rlvr.run(cfg)
        return cfg, Path(cfg.runs_dir) / name / "work" / "rlvr"

    def value_weights(checkpoint):
        return load_file(checkpoint / "value_model" / "model.safetensors")

    _, whole = run("ppo-whole")
    step1, step2 = value_weights(whole / "checkpoint-1"), value_weights(whole / "checkpoint-2")
    start = value_model_from(layout.stage_dir(sft_run, "sft")).state_dict()
    assert largest_difference(step1, {key: start[key] for key in step1}) > 1e-4  # step 1 trained it
    assert (whole / "checkpoint-1" / "value_model" / "optimizer.pt").exists()

    cfg, resumed = run("ppo-resumed", resume=whole / "checkpoint-1")
    assert largest_difference(value_weights(resumed / "checkpoint-2"), step2) < 1e-5
    manifest = layout.read_manifest(layout.stage_dir(cfg, "rlvr"))
    assert manifest["metrics"]["resumed_from_step"] == 1

    bare = tmp_path / "checkpoint-1"
    shutil.copytree(whole / "checkpoint-1", bare)
    shutil.rmtree(bare / "value_model")
    with pytest.raises(FileNotFoundError, match=f"{bare}/value_model is missing: PPO cannot resume"):
        run("ppo-bare", resume=bare)
