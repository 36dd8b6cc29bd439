"""`varlen_sdpa`: PyTorch's SDPA for padding-free batches, registered with transformers as an attention
implementation (`model.attn_implementation=varlen_sdpa`).

A padding-free batch (TRL's `padding_free=True`) is one row holding every sequence back to back, with the sequence
boundaries from TRL's collator (`cu_seq_lens_q`). The linear layers then compute no padding; only the attention has to
keep the sequences apart. transformers' `sdpa` does that with a (tokens x tokens) block mask, so its attention costs the
square of the whole batch's length (slower than padding: docs/results.md, "Speed"); here each sequence gets its own
causal SDPA call. The flash-attention kernels do the same on a GPU; this is the CPU's (and any device's) version.

Anything else (a padded batch, generation with a KV cache) goes to transformers' `sdpa` unchanged, so a checkpoint
trained with it generates as with `sdpa`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "varlen_sdpa"


def varlen_sdpa_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """query/key/value [batch, heads, tokens, head_dim] -> ([batch, tokens, heads, head_dim], None). A row without a
    mask and without a cache (q and k the same tokens) is split into its sequences: at `cu_seq_lens_q` (TRL's collator)
    or, without it, where `position_ids` restart at 0."""
    if attention_mask is not None or query.shape[0] != 1 or key.shape[2] != query.shape[2]:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    lengths = sequence_lengths(kwargs.get("cu_seq_lens_q"), kwargs.get("position_ids"), query.shape[2])
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    # split, not slicing: the backward of a split is one concatenation, of each slice a zero-filled full-size tensor
    outputs = [
        F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=scaling, is_causal=True)
        for q, k, v in zip(query.split(lengths, 2), key.split(lengths, 2), value.split(lengths, 2))
    ]
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


def sequence_lengths(cu_seq_lens, position_ids, tokens: int) -> list[int]:
    if cu_seq_lens is not None:
        return cu_seq_lens.diff().tolist()
    if position_ids is None:
        return [tokens]
    starts = (position_ids[0] == 0).nonzero().flatten().tolist()
    if not starts or starts[0] != 0:
        starts = [0, *starts]
    return [end - start for start, end in zip(starts, [*starts[1:], tokens])]


def varlen_sdpa_mask(*args, attention_mask=None, **kwargs):
    """No mask for a row without padding or a cache: the attention above keeps its sequences apart without one, where
    `sdpa` would build a tokens x tokens block mask for a padding-free row. `sdpa`'s mask for everything else."""
    whole = kwargs.get("q_offset", 0) == 0 and kwargs.get("kv_offset", 0) == 0
    if attention_mask is None and whole and kwargs.get("q_length") == kwargs.get("kv_length"):
        return None
    return sdpa_mask(*args, attention_mask=attention_mask, **kwargs)


def register() -> None:
    """Make `attn_implementation="varlen_sdpa"` known to transformers (idempotent)."""
    AttentionInterface.register(NAME, varlen_sdpa_attention)
    AttentionMaskInterface.register(NAME, varlen_sdpa_mask)
