"""PPO with a learned value model, over TRL's GRPOTrainer's rollouts: what Tülu 3's RLVR ran (TRL 1.16 has no PPO).

generation batch (TRL: sampling, the verifiable reward, the reference's log-probs) -> the policy's log-probs at
sampling time -> per-token rewards: -kl_coef x (log pi - log pi_ref) on every completion token and the sequence's
reward on its last (Tülu 3 / InstructGPT's KL penalty in the reward) -> the value model's V(s_t) -> GAE (gamma,
lambda) -> advantages (whitened over the batch's tokens) and returns -> the policy's clipped surrogate (TRL's loss
with per-token advantages, its own KL term off) and the value model's clipped value loss, each with its optimizer.

The value model is a token-classification head of one output on a causal LM's transformer (`value_model_from`):
`policy` starts it from the policy's parent with a fresh head; `rm` from the run's reward model, whose head already
scores answers (Tülu 3 found a general reward model the best start; our default pipeline trains none). Groups play
no part: TRL needs 2 samples per prompt, each is its own rollout.

One process: the value model and its optimizer are not wrapped by accelerate/DeepSpeed (refused at start otherwise).
"""

from __future__ import annotations

import torch


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


def whiten(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance over the masked entries; 0 elsewhere."""
    chosen = values[mask.bool()]
    if chosen.numel() < 2:
        return values * mask
    return (values - chosen.mean()) / (chosen.std() + 1e-8) * mask


def token_rewards(sequence_rewards, logps, ref_logps, mask, kl_coef: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-token rewards, per-token KL estimate): -kl_coef x (log pi - log pi_ref) per completion token, the sequence's
    reward added at its last token."""
    kl = (logps - ref_logps) * mask
    rewards = -kl_coef * kl
    last = (mask.cumsum(dim=1) == mask.sum(dim=1, keepdim=True)) & mask.bool()  # the last real token of each row
    rewards = rewards + last.to(rewards.dtype) * sequence_rewards.unsqueeze(1)
    return rewards, kl


def clipped_value_loss(values, old_values, returns, mask, clip: float) -> torch.Tensor:
    """PPO's value loss: 0.5 x max((V - R)^2, (clip(V, V_old +- clip) - R)^2), averaged over the masked tokens."""
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    loss = torch.max((values - returns) ** 2, (clipped - returns) ** 2)
    return 0.5 * (loss * mask).sum() / mask.sum().clamp(min=1)


def value_model_from(path, dtype=torch.float32):
    """A per-token value model: the checkpoint's transformer with a one-output token-classification head (a
    reward model's own `score` head is kept; a causal LM's gets a new one)."""
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
        if self.accelerator.num_processes > 1:
            raise ValueError("rlvr.trainer=ppo runs in one process (its value model is not distributed)")
        if self.beta == 0.0:
            raise ValueError("rlvr.trainer=ppo needs rlvr.beta > 0: the KL penalty in the reward needs the reference")
        self.value_model = value_model.to(self.accelerator.device)
        self.value_optimizer = torch.optim.AdamW(self.value_model.parameters(), lr=value_learning_rate)
        self.gae_lambda, self.gamma, self.value_clip = gae_lambda, gamma, value_clip
        self._sequence_rewards = None

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        per_function = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        weights = self.reward_weights.to(per_function.device).unsqueeze(0)
        self._sequence_rewards = (per_function * weights).nansum(dim=1)
        return per_function

    def _generate_and_score_completions(self, inputs):
        batch = super()._generate_and_score_completions(inputs)
        input_ids, attention_mask, mask = sequences(batch)
        width = mask.size(1)
        with torch.no_grad():
            if batch.get("old_per_token_logps") is None:  # TRL skips them when the update is on-policy
                batch["old_per_token_logps"], _, _ = self._get_per_token_logps_and_entropies(
                    self.model, input_ids, attention_mask, width, batch_size=self.args.per_device_train_batch_size
                )
            old_values = completion_values(self.value_model, input_ids, attention_mask, width) * mask
        # one process: TRL's gathered sequence rewards are this batch's
        rewards, kl = token_rewards(
            self._sequence_rewards.to(old_values.dtype),
            batch["old_per_token_logps"],
            batch["ref_per_token_logps"],
            mask,
            self.beta,
        )
        advantages, returns = gae(rewards, old_values, mask, self.gamma, self.gae_lambda)
        batch["advantages"] = whiten(advantages, mask)
        batch["returns"], batch["old_values"] = returns, old_values
        self._metrics["train"]["ppo/kl"].append(float(kl.sum(1).mean()))
        self._metrics["train"]["ppo/sequence_reward"].append(float(self._sequence_rewards.mean()))
        self._metrics["train"]["ppo/value_mean"].append(float(old_values.sum() / mask.sum().clamp(min=1)))
        return batch

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        kl_coef, self.beta = self.beta, 0.0  # the KL is in the reward (GAE above), not TRL's loss
        try:
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        finally:
            self.beta = kl_coef
        self._update_value_model(inputs)
        return loss

    def _update_value_model(self, inputs) -> None:
        input_ids, attention_mask, mask = sequences(inputs)
        values = completion_values(self.value_model, input_ids, attention_mask, mask.size(1))
        loss = clipped_value_loss(values, inputs["old_values"], inputs["returns"], mask, self.value_clip)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.value_model.parameters(), self.args.max_grad_norm or 1.0)
        self.value_optimizer.step()
        self.value_optimizer.zero_grad(set_to_none=True)
        self._metrics["train"]["ppo/value_loss"].append(float(loss.detach()))
