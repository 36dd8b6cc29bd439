"""PPO with a learned value model, over TRL's GRPOTrainer's rollouts: what Tülu 3's RLVR ran (TRL 1.16 has no PPO).

generation batch (TRL: sampling, the verifiable reward, the reference's log-probs) -> the policy's log-probs at
sampling time -> per-token rewards: -kl_coef x (log pi - log pi_ref) on every completion token and the sequence's
reward on its last (Tülu 3 / InstructGPT's KL penalty in the reward) -> the value model's V(s_t) -> GAE (gamma,
lambda) -> advantages (whitened over the tokens of every process) and returns -> the policy's clipped surrogate
(TRL's loss with per-token advantages, its own KL term off) and the value model's clipped value loss, each with its
optimizer.

The value model is a token-classification head of one output on a causal LM's transformer (`value_model_from`):
`policy` starts it from the policy's parent with a fresh head; `rm` from the run's reward model, whose head already
scores answers (Tülu 3 found a general reward model the best start; our default pipeline trains none). Groups play
no part: TRL needs 2 samples per prompt, each is its own rollout.

In several processes (accelerate, DDP or DeepSpeed for the policy) each process holds a whole replica of the value
model, wrapped in torch's DistributedDataParallel, which averages its gradients; the value loss is normalised by the
tokens of all processes and the advantages are whitened over all of them, so N processes of batch B update as one of
N x B. Under DeepSpeed ZeRO-3 (an 8B value model and its AdamW state fit no single GPU) it is a DeepSpeed engine of
its own instead, loaded partitioned and partitioned as the policy is (weights, gradients, optimizer state; the
policy's offload settings); ZeRO averages its gradients as DDP does, so the update is the same. Each checkpoint
carries it and its optimizer (`value_model/`: weights and state whole, or under ZeRO-3 each process's partition), and
a resumed run continues from them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from runtime import files
from stages.rl.checkpoint_state import WriteIntoEachCheckpoint

VALUE_DIR = "value_model"  # in each intermediate checkpoint: the value model's weights and its optimizer's state


def _in_one_process(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """Generalised advantage estimation over each row's masked tokens (right-padded): (advantages, returns).
    V after the last token is 0 (the episode ends)."""
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(rewards.size(0), dtype=rewards.dtype, device=rewards.device)
    next_value = torch.zeros_like(running)
    for t in reversed(range(rewards.size(1))):
        live = mask[:, t].to(rewards.dtype)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * live
        advantages[:, t] = running
        next_value = torch.where(live.bool(), values[:, t], next_value)  # padding carries the next real value back
    return advantages, (advantages + values) * mask


def whiten(values: torch.Tensor, mask: torch.Tensor, total=_in_one_process) -> torch.Tensor:
    """Zero mean, unit (sample) variance over the masked entries of every process; 0 elsewhere. `total` sums a tensor
    over the processes (the identity in one)."""
    live = mask.bool()
    count, sum_ = total(torch.stack([live.sum().to(values.dtype), values[live].sum()]))
    if count < 2:
        return values * mask
    mean = sum_ / count
    variance = total((values[live] - mean).pow(2).sum()) / (count - 1)  # two passes: no cancellation
    return (values - mean) / (variance.sqrt() + 1e-8) * mask


def token_rewards(sequence_rewards, logps, ref_logps, mask, kl_coef: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-token rewards, per-token KL estimate): -kl_coef x (log pi - log pi_ref) per completion token, the sequence's
    reward added at its last token."""
    kl = (logps - ref_logps) * mask
    rewards = -kl_coef * kl
    last = (mask.cumsum(dim=1) == mask.sum(dim=1, keepdim=True)) & mask.bool()  # the last real token of each row
    rewards = rewards + last.to(rewards.dtype) * sequence_rewards.unsqueeze(1)
    return rewards, kl


def clipped_value_loss(values, old_values, returns, mask, clip: float, tokens=None) -> torch.Tensor:
    """PPO's value loss: 0.5 x max((V - R)^2, (clip(V, V_old +- clip) - R)^2), summed over the masked tokens and
    divided by `tokens` (default: their number)."""
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    loss = torch.max((values - returns) ** 2, (clipped - returns) ** 2)
    tokens = mask.sum() if tokens is None else tokens
    return 0.5 * (loss * mask).sum() / tokens.clamp(min=1)


def value_model_from(path, dtype=torch.float32):
    """A per-token value model: the checkpoint's transformer with a one-output token-classification head (a
    reward model's own `score` head is kept; a causal LM's gets a new one). Under ZeRO-3 from_pretrained loads it
    partitioned over the processes."""
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(str(path), num_labels=1, dtype=dtype)
    model.config.pad_token_id = model.config.pad_token_id or 0
    return model


def sequences(batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(prompt + completion ids, their attention mask, the completion tokens the loss counts) of a generation batch."""
    input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    attention_mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    return input_ids, attention_mask, batch["completion_mask"] * batch.get("tool_mask", 1)


def completion_values(value_model, input_ids, attention_mask, logits_to_keep: int) -> torch.Tensor:
    """V(s_t) for each completion token t: the head's output at the position before it (the state it is chosen in)."""
    position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
    out = value_model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids)
    return out.logits.squeeze(-1)[:, -logits_to_keep - 1 : -1]


def replicated(value_model, device, num_processes: int):
    """The value model on `device`; in several processes wrapped in DDP, which starts every replica from process 0's
    weights and averages the gradients of each backward (whatever accelerate or DeepSpeed do with the policy)."""
    value_model = value_model.to(device)
    if num_processes == 1:
        return value_model
    return DistributedDataParallel(value_model, device_ids=[device.index] if device.type == "cuda" else None)


def sharded(value_model, policy_config: dict, learning_rate: float, max_grad_norm: float, micro_batch: int, bf16: bool):
    """Under DeepSpeed ZeRO-3: (the value model as a DeepSpeed engine of its own, its AdamW), partitioned with the
    policy's ZeRO settings (`policy_config`, its DeepSpeed config) and in its precision. The engine clips the gradient
    norm to `max_grad_norm`, averages the gradients over the processes and steps once per backward."""
    import deepspeed

    hidden = value_model.config.hidden_size
    automatic = {  # what transformers fills in for the policy's "auto" (its deepspeed integration)
        "reduce_bucket_size": hidden * hidden,
        "stage3_prefetch_bucket_size": int(0.9 * hidden * hidden),
        "stage3_param_persistence_threshold": 10 * hidden,
    }
    zero = {
        key: automatic.get(key) if value == "auto" else value
        for key, value in policy_config["zero_optimization"].items()
    }
    config = {
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": 1,
        "gradient_clipping": max_grad_norm,
        "bf16": {"enabled": bf16},
        "zero_optimization": {key: value for key, value in zero.items() if value is not None},
        "zero_allow_untested_optimizer": True,  # torch's AdamW, as the unsharded value model's
        "zero_force_ds_cpu_optimizer": False,  # and with the optimizer offloaded to the CPU too
        "steps_per_print": 10**12,
    }
    optimizer = torch.optim.AdamW(value_model.parameters(), lr=learning_rate)
    engine, optimizer, _, _ = deepspeed.initialize(model=value_model, optimizer=optimizer, config=config)
    return engine, optimizer


def is_engine(value_model) -> bool:
    """Whether the value model is a DeepSpeed engine (`sharded`), which steps and checkpoints itself."""
    deepspeed = sys.modules.get("deepspeed")
    return deepspeed is not None and isinstance(value_model, deepspeed.DeepSpeedEngine)


def unwrapped(value_model):
    return value_model.module if isinstance(value_model, DistributedDataParallel) else value_model


def value_step(
    value_model, optimizer, batch: dict, clip: float, max_grad_norm: float, processes: int = 1, total=_in_one_process
):
    """One update of the value model on a micro-batch of one of `processes` processes; returns its loss. The loss is
    divided by the mean number of loss tokens per process, so that DDP's average of the processes' gradients is the
    gradient of the loss over all their tokens: N processes of B rows step as one process of N x B."""
    input_ids, attention_mask, mask = sequences(batch)
    tokens = total(mask.sum().to(torch.float32)) / processes
    values = completion_values(value_model, input_ids, attention_mask, mask.size(1))
    loss = clipped_value_loss(values, batch["old_values"], batch["returns"], mask, clip, tokens=tokens)
    if is_engine(value_model):  # it clips to its config's gradient_clipping, steps and zeroes the gradients itself
        value_model.backward(loss)
        value_model.step()
        return float(loss.detach())
    loss.backward()
    torch.nn.utils.clip_grad_norm_(value_model.parameters(), max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def save_value_state(value_model, optimizer, directory: Path) -> None:
    """The weights and the optimizer's state, written whole or not at all (runtime/files.atomic). A DeepSpeed engine
    is saved by every process (each writes its partition) into a side directory the main process then renames."""
    if not is_engine(value_model):
        with files.atomic(directory) as staging:
            unwrapped(value_model).save_pretrained(staging)
            torch.save(optimizer.state_dict(), staging / "optimizer.pt")
        return
    import torch.distributed as dist

    staging = files.staging_path(directory, per_process=False)  # every process writes into the same directory
    if dist.get_rank() == 0:
        files.discard(staging)  # what a save interrupted before left
    dist.barrier()
    value_model.save_checkpoint(str(staging), tag=VALUE_DIR)
    dist.barrier()  # every partition written
    if dist.get_rank() == 0:
        files.move_into_place(staging, directory)
    dist.barrier()


def load_value_state(value_model, optimizer, directory: Path) -> None:
    from safetensors.torch import load_file

    if is_engine(value_model):  # each process reads its own partition and its optimizer state
        value_model.load_checkpoint(str(directory), tag=VALUE_DIR, load_lr_scheduler_states=False)
        return
    unwrapped(value_model).load_state_dict(load_file(directory / "model.safetensors"))
    optimizer.load_state_dict(torch.load(directory / "optimizer.pt", map_location="cpu", weights_only=True))


class ValueModelPPO:
    """Mixin for TRL's GRPOTrainer (before it in the bases): PPO's advantages and value model. `args.beta` is the KL
    coefficient, paid in the reward rather than the loss. Overrides TRL's private `_calculate_rewards` (to keep the
    sequence rewards) and `_generate_and_score_completions` (to replace the group advantages); docs/interfaces.md."""

    def __init__(
        self,
        *args,
        value_model,
        value_learning_rate: float,
        gae_lambda: float = 0.95,
        gamma: float = 1.0,
        value_clip: float = 0.2,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if self.beta == 0.0:
            raise ValueError("rlvr.trainer=ppo needs rlvr.beta > 0: the KL penalty in the reward needs the reference")
        deepspeed = self.accelerator.state.deepspeed_plugin if self.is_deepspeed_enabled else None
        if deepspeed is not None and deepspeed.zero_stage == 3:
            self.value_model, self.value_optimizer = sharded(
                value_model,
                deepspeed.deepspeed_config,
                value_learning_rate,
                max_grad_norm=self.args.max_grad_norm or 1.0,
                micro_batch=self.args.per_device_train_batch_size,
                bf16=bool(self.args.bf16),
            )
        else:
            self.value_model = replicated(value_model, self.accelerator.device, self.accelerator.num_processes)
            self.value_optimizer = torch.optim.AdamW(self.value_model.parameters(), lr=value_learning_rate)
        self.gae_lambda, self.gamma, self.value_clip = gae_lambda, gamma, value_clip
        self._sequence_rewards = None
        # the replicas are equal, so the main process writes one; partitions are written by every process
        self.add_callback(WriteIntoEachCheckpoint(self._save_value_state, every_process=is_engine(self.value_model)))

    def _save_value_state(self, checkpoint: Path) -> None:
        save_value_state(self.value_model, self.value_optimizer, checkpoint / VALUE_DIR)

    def _all_processes(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.accelerator.reduce(tensor, reduction="sum") if self.accelerator.num_processes > 1 else tensor

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        """Trainer.train, after restoring the value model and its optimizer from the checkpoint resumed from."""
        if isinstance(resume_from_checkpoint, str):
            saved = Path(resume_from_checkpoint) / VALUE_DIR
            if not saved.exists():  # a run stopped between the Trainer's files and ours
                raise FileNotFoundError(
                    f"{saved} is missing: PPO cannot resume without its value model; resume=<an earlier checkpoint> "
                    "or resume=never (start over)"
                )
            load_value_state(self.value_model, self.value_optimizer, saved)
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        per_function = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        weights = self.reward_weights.to(per_function.device).unsqueeze(0)
        self._sequence_rewards = (per_function * weights).nansum(dim=1)  # every process's rows, gathered by TRL
        return per_function

    def _generate_and_score_completions(self, inputs):
        batch = super()._generate_and_score_completions(inputs)
        input_ids, attention_mask, mask = sequences(batch)
        rows, width = mask.shape
        with torch.no_grad():
            if batch.get("old_per_token_logps") is None:  # TRL skips them when the update is on-policy
                batch["old_per_token_logps"], _, _ = self._get_per_token_logps_and_entropies(
                    self.model, input_ids, attention_mask, width, batch_size=self.args.per_device_train_batch_size
                )
            old_values = completion_values(self.value_model, input_ids, attention_mask, width) * mask
        start = self.accelerator.process_index * rows  # this process's rows of the gathered rewards, as TRL slices
        sequence_rewards = self._sequence_rewards[start : start + rows].to(old_values.dtype)
        rewards, kl = token_rewards(
            sequence_rewards, batch["old_per_token_logps"], batch["ref_per_token_logps"], mask, self.beta
        )
        advantages, returns = gae(rewards, old_values, mask, self.gamma, self.gae_lambda)
        batch["advantages"] = whiten(advantages, mask, total=self._all_processes)
        batch["returns"], batch["old_values"] = returns, old_values
        sums = torch.stack([kl.sum(), old_values.sum(), mask.sum().to(kl.dtype)])
        kl_sum, value_sum, tokens = self._all_processes(sums)
        self._metrics["train"]["ppo/kl"].append(float(kl_sum / len(self._sequence_rewards)))  # per sequence
        self._metrics["train"]["ppo/sequence_reward"].append(float(self._sequence_rewards.mean()))
        self._metrics["train"]["ppo/value_mean"].append(float(value_sum / tokens.clamp(min=1)))
        return batch

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        kl_coef, self.beta = self.beta, 0.0  # the KL is in the reward (GAE above), not TRL's loss
        try:
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        finally:
            self.beta = kl_coef
        value_loss = value_step(
            self.value_model,
            self.value_optimizer,
            inputs,
            self.value_clip,
            self.args.max_grad_norm or 1.0,
            processes=self.accelerator.num_processes,
            total=self._all_processes,
        )
        self._metrics["train"]["ppo/value_loss"].append(value_loss)
        return loss
