"""Padding-free log-probs: the policy's and the reference's passes over prompt + completion, without the padding

TRL scores a batch of completions as one padded tensor: prompts padded on the left to the longest, completions on
the right to the longest -- one rambling completion pads all 32 to max_completion_length (the default's batches
are 55% padding). With `rlvr.padding_free`, each chunk's real tokens sit back to back in one row, position ids
restarting at 0 per sequence (the attention keeps them apart: varlen_sdpa, flash_attention_2, or sdpa's block
mask), and the log-probs and entropies are put back where TRL's padded layout has them; the padded positions get
0, as TRL's masked ones do. A sequence's first token is a prompt token, never scored, so no log-prob reads across
a boundary.
"""

from __future__ import annotations

import torch


class PaddingFreeLogps:
    """Mixin for TRL's GRPO/RLOO trainers (before them in the bases): `padding_free=True` packs the rows of each
    log-prob pass. Multimodal inputs and MoE auxiliary losses go to TRL's padded pass."""

    def __init__(self, *args, padding_free: bool = False, **kwargs):
        self.padding_free = padding_free
        super().__init__(*args, **kwargs)

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
        if not self.padding_free or compute_aux_loss or any(value is not None for value in multimodal.values()):
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
