"""Attention for padding-free batches, registered with transformers as attention implementations, and the choice
`model.attn_implementation=auto` makes per device (`resolve`):

    CPU                               varlen_sdpa: PyTorch's SDPA, one call per sequence
    CUDA with flash-attn installed    flash_attention_2 (transformers' own)
    CUDA, torch has varlen attention  varlen_flash: torch.nn.attention.varlen.varlen_attn, one kernel for the row
    CUDA otherwise                    varlen_sdpa, with SDPA's cuDNN backend excluded (see below)

A padding-free batch (TRL's `padding_free=True`) is one row holding every sequence back to back, with the sequence
boundaries from TRL's collator (`cu_seq_lens_q`). The linear layers then compute no padding; only the attention has to
keep the sequences apart. transformers' `sdpa` does that with a (tokens x tokens) block mask, so its attention costs the
square of the whole batch's length (slower than padding: docs/results.md, "Speed"); here each sequence gets its own
causal SDPA call. The flash-attention kernels do the same on a GPU; this is the CPU's (and any device's) version.

Anything else (a padded batch, generation with a KV cache) goes to transformers' `sdpa` unchanged, so a checkpoint
trained with it generates as with `sdpa`.

On a GPU the per-sequence SDPA calls of `varlen_sdpa` ran 1.5-1.75 s a step on an H200 against 0.09 s on 2 CPU cores
(docs/gpu.md): on Hopper, SDPA's cuDNN backend builds an execution plan for every new sequence length. There
`varlen_sdpa` leaves cuDNN out, and `auto` prefers one variable-length kernel over the whole row.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "varlen_sdpa"
VARLEN_FLASH = "varlen_flash"
AUTO = "auto"
# The implementations that take a 4-D boolean mask (varlen_flash hands a masked row to varlen_sdpa, which hands it
# to SDPA): what a layout with its own mask (stages/rl/logps.py, shared prompts) needs
MASKED_ATTENTION = ("sdpa", NAME, VARLEN_FLASH)


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
    with sdpa_without_cudnn() if query.is_cuda else nullcontext():
        # split, not slicing: the backward of a split is one concatenation, of each slice a zero-filled full tensor
        outputs = [
            F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=scaling, is_causal=True)
            for q, k, v in zip(query.split(lengths, 2), key.split(lengths, 2), value.split(lengths, 2))
        ]
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


def sdpa_without_cudnn():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


def varlen_flash_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """A packed row through PyTorch's variable-length flash attention: one kernel for all its sequences, causal within
    each (window (-1, 0)). What it cannot take (a mask, a cache, fp32, dropout) goes to `varlen_sdpa_attention`."""
    packed = attention_mask is None and query.shape[0] == 1 and key.shape[2] == query.shape[2]
    if not packed or query.dtype not in (torch.float16, torch.bfloat16) or (dropout and module.training):
        return varlen_sdpa_attention(module, query, key, value, attention_mask, dropout, scaling, **kwargs)
    lengths = sequence_lengths(kwargs.get("cu_seq_lens_q"), kwargs.get("position_ids"), query.shape[2])
    offsets = torch.tensor([0, *itertools.accumulate(lengths)], dtype=torch.int32, device=query.device)
    # [1, heads, tokens, dim] -> [tokens, heads, dim], the layout the kernel takes and returns (contiguous: its
    # strides have not been tried on a GPU here, a copy is cheap beside the attention)
    q, k, v = (tensor[0].transpose(0, 1).contiguous() for tensor in (query, key, value))
    longest = max(lengths)
    out = varlen_attn_kernel()(
        q,
        k,
        v,
        offsets,
        offsets,
        longest,
        longest,
        scale=scaling,
        window_size=(-1, 0),
        enable_gqa=k.shape[1] != q.shape[1],
    )
    return out.unsqueeze(0), None


def varlen_attn_kernel():
    from torch.nn.attention.varlen import varlen_attn

    return varlen_attn


def torch_has_varlen_attention(device) -> bool:
    """torch.nn.attention.varlen with grouped-query heads (`enable_gqa`: PyTorch 2.13; the 2.10-2.12 kernels take no
    such argument) on a GPU its flash kernels support (Ampere and newer)."""
    if importlib.util.find_spec("torch.nn.attention.varlen") is None:
        return False
    if "enable_gqa" not in inspect.signature(varlen_attn_kernel()).parameters:
        return False
    return torch.cuda.get_device_capability(device) >= (8, 0)


def resolve(requested: str | None, device) -> str | None:
    """The attention a model loads with: `requested` as it is, or for `auto` the variable-length kernel for packed
    rows that this device runs best (the table in the module docstring)."""
    if requested != AUTO:
        return requested
    if torch.device(device).type != "cuda":
        return NAME
    if importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return VARLEN_FLASH if torch_has_varlen_attention(device) else NAME


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
    """Make `attn_implementation="varlen_sdpa"` and `"varlen_flash"` known to transformers (idempotent)."""
    AttentionInterface.register(NAME, varlen_sdpa_attention)
    AttentionMaskInterface.register(NAME, varlen_sdpa_mask)
    AttentionInterface.register(VARLEN_FLASH, varlen_flash_attention)
    AttentionMaskInterface.register(VARLEN_FLASH, varlen_sdpa_mask)
