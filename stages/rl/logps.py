"""Padding-free log-probs: the policy's and the reference's passes over prompt + completion, without the padding

TRL scores a batch of completions as one padded tensor: prompts padded on the left to the longest, completions on
the right to the longest -- one rambling completion pads all 32 to max_completion_length (the default's batches
are 55% padding). With `rlvr.padding_free`, each chunk's real tokens sit back to back in one row, position ids
restarting at 0 per sequence (the attention keeps them apart: varlen_sdpa, flash_attention_2, or sdpa's block
mask), and the log-probs and entropies are put back where TRL's padded layout has them; the padded positions get
0, as TRL's masked ones do. A sequence's first token is a prompt token, never scored, so no log-prob reads across
a boundary.

With `rlvr.share_prompts` (packed too, whatever `padding_free` says), the completions of one prompt share its
tokens (the idea of Prefix Grouper, Liu et al. 2025, arXiv:2506.05433): a group of rows with the same prompt becomes
one row, the prompt once and then each completion after its own copy of the prompt's last token (the position that
predicts the completion's first token), each completion seeing the prompt and itself through a block mask. A prompt
of 52 tokens under 8 completions of 30 is computed once, not 8 times: the same log-probs and gradients from 2.2x
fewer tokens. The mask is a (tokens x tokens) one, so the attention has to take a mask: sdpa and varlen_sdpa do,
flash-attention does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from runtime.attention import MASKED_ATTENTION


class PaddingFreeLogps:
    """Mixin for TRL's GRPO/RLOO trainers (before them in the bases): `padding_free=True` packs the rows of each
    log-prob pass, `share_prompts=True` packs them with each prompt once. Multimodal inputs and MoE auxiliary losses
    go to TRL's padded pass."""

    def __init__(self, *args, padding_free: bool = False, share_prompts: bool = False, **kwargs):
        self.padding_free = padding_free
        self.share_prompts = share_prompts
        super().__init__(*args, **kwargs)
        scoring = [m for m in (self.model, getattr(self, "ref_model", None)) if m is not None] if share_prompts else []
        for attention in (m.config._attn_implementation for m in scoring):
            if attention not in MASKED_ATTENTION:
                raise ValueError(
                    f"rlvr.share_prompts=true needs an attention that takes a (tokens x tokens) mask "
                    f"({', '.join(MASKED_ATTENTION)}); the model loaded with {attention}: set "
                    "model.attn_implementation=sdpa or rlvr.share_prompts=false"
                )

    def _get_per_token_logps_and_entropies(
        self,
        model,
        input_ids,
        attention_mask,
        logits_to_keep,
        batch_size=None,
        compute_entropy=False,
        compute_aux_loss=False,
        **multimodal,
    ):
        packed = self.padding_free or self.share_prompts
        if not packed or compute_aux_loss or any(value is not None for value in multimodal.values()):
            return super()._get_per_token_logps_and_entropies(
                model,
                input_ids,
                attention_mask,
                logits_to_keep,
                batch_size=batch_size,
                compute_entropy=compute_entropy,
                compute_aux_loss=compute_aux_loss,
                **multimodal,
            )
        batch_size = batch_size or input_ids.size(0)
        all_logps, all_entropies = [], []
        for start in range(0, input_ids.size(0), batch_size):
            ids, keep = input_ids[start : start + batch_size], attention_mask[start : start + batch_size].bool()
            if self.share_prompts:
                layout = shared_prompt_layout(ids, keep, logits_to_keep)
                with self.accelerator.autocast():
                    outputs = model(
                        input_ids=layout.input_ids,
                        attention_mask=layout.attention_mask,
                        position_ids=layout.position_ids,
                        shift_labels=layout.shift_labels,
                        fused_lm_head=True,
                    )
                all_logps.append(layout.gather(outputs.log_probs))
                if compute_entropy:
                    all_entropies.append(layout.gather(outputs.entropy))
                continue
            labels = ids.masked_fill(~keep, -100)
            labels[:, :-logits_to_keep] = -100  # only the completion tokens are scored, as in TRL
            position_ids = (keep.cumsum(dim=1) - 1)[keep][None]  # 0, 1, ... within each row's real tokens
            with self.accelerator.autocast():
                outputs = model(
                    input_ids=ids[keep][None], position_ids=position_ids, labels=labels[keep][None], fused_lm_head=True
                )
            all_logps.append(unpack(outputs.log_probs, keep)[:, -logits_to_keep:])
            if compute_entropy:
                all_entropies.append(unpack(outputs.entropy, keep)[:, -logits_to_keep:])
        entropies = torch.cat(all_entropies) if compute_entropy else None
        return torch.cat(all_logps), entropies, None


def unpack(packed, keep):
    """[1, tokens - 1] per-token values of a packed row (each the prediction of the next token) -> TRL's padded
    [batch, length - 1] layout, in which [i, j] is the value for token j + 1 of row i; 0 where there is no token."""
    per_token = torch.cat([packed.new_zeros(1), packed[0]])  # the row's first token is nobody's prediction
    padded = per_token.new_zeros(keep.shape)
    padded[keep] = per_token
    return padded[:, 1:]


@dataclass
class SharedPromptLayout:
    """A chunk of TRL's rows as rows of prompt groups: `input_ids`, `position_ids`, `shift_labels` [groups, length]
    and `attention_mask` [groups, 1, length, length] (True = may attend). Completion token j of TRL's row b is
    predicted at `(group_row[b, j], column[b, j])`; `scored[b, j]` says whether row b has that token."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    attention_mask: torch.Tensor
    shift_labels: torch.Tensor
    group_row: torch.Tensor
    column: torch.Tensor
    scored: torch.Tensor

    def gather(self, per_token: torch.Tensor) -> torch.Tensor:
        """[groups, length] values at the predicting positions -> TRL's [batch, completion length], 0 unscored."""
        return torch.where(self.scored, per_token[self.group_row, self.column], 0.0)


def shared_prompt_layout(input_ids: torch.Tensor, keep: torch.Tensor, completion_length: int) -> SharedPromptLayout:
    """Rows of prompt + completion (TRL's layout: the prompt left-padded, the completion's real tokens where `keep`
    is set) -> one row per distinct prompt: its real tokens but the last, then for each of its rows the last prompt
    token and that row's completion tokens, positions running on from the prompt's in every segment."""
    batch = input_ids.size(0)
    prompt_ids, prompt_keep = input_ids[:, :-completion_length], keep[:, :-completion_length]
    completion_ids, completion_keep = input_ids[:, -completion_length:], keep[:, -completion_length:]
    groups: dict[tuple[int, ...], list[int]] = {}
    for b in range(batch):
        groups.setdefault(tuple(prompt_ids[b][prompt_keep[b]].tolist()), []).append(b)
    rows = []  # per group: token ids, positions, segment of each token (-1 = the shared prompt), labels (next token)
    group_row = torch.zeros(batch, completion_length, dtype=torch.long)
    column = torch.zeros(batch, completion_length, dtype=torch.long)
    for r, (prompt, members) in enumerate(groups.items()):
        if not prompt:
            raise ValueError("share_prompts: a row without prompt tokens (its first completion token has no predictor)")
        shared = len(prompt) - 1
        ids, positions, segments, labels = list(prompt[:-1]), list(range(shared)), [-1] * shared, [-100] * shared
        for b in members:
            completion = completion_ids[b][completion_keep[b]].tolist()
            start = len(ids)
            ids += [prompt[-1], *completion]
            positions += range(len(prompt) - 1, len(prompt) + len(completion))
            segments += [b] * (len(completion) + 1)
            labels += [*completion, -100]
            kept = completion_keep[b].nonzero().flatten()
            group_row[b, kept] = r
            column[b, kept] = torch.arange(start, start + len(completion))
        rows.append((ids, positions, segments, labels))
    length = max(len(ids) for ids, *_ in rows)
    out_ids = torch.zeros(len(rows), length, dtype=input_ids.dtype)
    out_positions = torch.zeros(len(rows), length, dtype=torch.long)
    out_labels = torch.full((len(rows), length), -100, dtype=torch.long)
    mask = torch.zeros(len(rows), 1, length, length, dtype=torch.bool)
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    for r, (ids, positions, segments, labels) in enumerate(rows):
        n = len(ids)
        out_ids[r, :n], out_positions[r, :n], out_labels[r, :n] = (torch.tensor(x) for x in (ids, positions, labels))
        segment = torch.tensor(segments)
        # a token sees the shared prompt and, causally, its own segment; padding sees itself (no empty softmax row)
        sees = (segment[None, :] == -1) | (segment[:, None] == segment[None, :])
        mask[r, 0, :n, :n] = sees & causal[:n, :n]
        mask[r, 0, n:, n:] = torch.eye(length - n, dtype=torch.bool)
    device = input_ids.device
    return SharedPromptLayout(
        out_ids.to(device),
        out_positions.to(device),
        mask.to(device),
        out_labels.to(device),
        group_row.to(device),
        column.to(device),
        completion_keep,
    )
