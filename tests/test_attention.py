"""`varlen_sdpa` (runtime/attention.py): a padding-free row gives every sequence exactly the logits it gets alone,
padded batches and generation are transformers' `sdpa`, and a checkpoint trained with it names no attention of ours."""

from __future__ import annotations

import copy

import pytest
import torch
from helpers import compose

from runtime import attention, models
from runtime.tiny import ensure_tiny_model

LENGTHS = (7, 12, 3, 9)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """The embedded model twice: with varlen_sdpa and with transformers' sdpa (random weights: nothing is learnt)."""
    checkpoint = ensure_tiny_model(compose().model.tiny, cache_dir=tmp_path_factory.mktemp("tiny"))
    loaded = {}
    for name in (attention.NAME, "sdpa"):
        model, _ = models.load_model_and_tokenizer(
            compose([f"model.attn_implementation={name}"]), checkpoint, trainable=False
        )
        loaded[name] = model.eval()
    return loaded


def sequences() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randint(5, 1000, (length,), generator=generator) for length in LENGTHS]


def packed_row(with_boundaries: bool = True) -> dict:
    """The sequences back to back in one row, as TRL's padding-free collator builds it."""
    parts = sequences()
    batch = {
        "input_ids": torch.cat(parts)[None],
        "position_ids": torch.cat([torch.arange(len(part)) for part in parts])[None],
    }
    if with_boundaries:
        batch["cu_seq_lens_q"] = batch["cu_seq_lens_k"] = torch.tensor([0, *torch.tensor(LENGTHS).cumsum(0)]).int()
        batch["max_length_q"] = batch["max_length_k"] = max(LENGTHS)
    return batch


def alone(model) -> torch.Tensor:
    """Each sequence's logits from its own forward pass, concatenated in packing order."""
    with torch.no_grad():
        return torch.cat([model(input_ids=part[None]).logits[0] for part in sequences()])


@pytest.mark.parametrize("with_boundaries", [True, False], ids=["cu_seq_lens", "position_ids_only"])
def test_a_padding_free_row_gives_each_sequence_the_logits_it_gets_alone(tiny_models, with_boundaries):
    model = tiny_models[attention.NAME]
    with torch.no_grad():
        packed = model(**packed_row(with_boundaries)).logits[0]
    torch.testing.assert_close(packed, alone(tiny_models["sdpa"]), atol=1e-5, rtol=1e-4)


def test_without_the_split_the_later_sequences_of_a_row_attend_to_the_earlier_ones(tiny_models, monkeypatch):
    """The naive version: one causal attention over the whole row (what `sdpa` does with no mask) lets each sequence
    see the ones before it. Only the first sequence's logits survive that."""
    monkeypatch.setattr(attention, "sequence_lengths", lambda cu_seq_lens, position_ids, tokens: [tokens])
    with torch.no_grad():
        packed = tiny_models[attention.NAME](**packed_row()).logits[0]
    expected = alone(tiny_models["sdpa"])
    first = LENGTHS[0]
    torch.testing.assert_close(packed[:first], expected[:first], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(packed[first:], expected[first:], atol=1e-3)


def test_padded_batches_and_greedy_generation_are_those_of_sdpa(tiny_models):
    parts = sequences()
    width = max(LENGTHS)
    input_ids = torch.stack([torch.cat([torch.zeros(width - len(p), dtype=torch.long), p]) for p in parts])
    attention_mask = torch.stack([(torch.arange(width) >= width - len(p)).long() for p in parts])
    outputs = {}
    for name, model in tiny_models.items():
        with torch.no_grad():
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
            generated = model.generate(
                input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=6, do_sample=False, pad_token_id=0
            )
        outputs[name] = (logits * attention_mask[..., None], generated)
    torch.testing.assert_close(outputs[attention.NAME][0], outputs["sdpa"][0], atol=1e-5, rtol=1e-4)
    assert torch.equal(outputs[attention.NAME][1], outputs["sdpa"][1])


def test_a_saved_checkpoint_names_no_attention_of_ours(tiny_models, tmp_path):
    """vLLM and other tools read config.json; they do not know varlen_sdpa."""
    tiny_models[attention.NAME].save_pretrained(tmp_path)
    assert attention.NAME not in (tmp_path / "config.json").read_text()


def reference_varlen_kernel(q, k, v, cu_q, cu_k, max_q, max_k, *, scale=None, window_size=(-1, -1), enable_gqa=False):
    """A CPU stand-in for torch.nn.attention.varlen.varlen_attn (CUDA-only): [tokens, heads, dim] in and out, each
    sequence of the offsets attended on its own, causal for window (-1, 0). Only ours is under test: the layout,
    offsets and causal window handed to the kernel."""
    assert window_size == (-1, 0) and torch.equal(cu_q, cu_k) and cu_q.dtype == torch.int32
    outputs = []
    for start, end in zip(cu_q[:-1].tolist(), cu_q[1:].tolist()):
        part = [t[start:end].transpose(0, 1) for t in (q, k, v)]  # [heads, tokens, dim]
        attended = torch.nn.functional.scaled_dot_product_attention(
            *part, scale=scale, is_causal=True, enable_gqa=enable_gqa
        )
        outputs.append(attended.transpose(0, 1))
    assert max(end - start for start, end in zip(cu_q[:-1].tolist(), cu_q[1:].tolist())) == max_q == max_k
    return torch.cat(outputs)


@pytest.mark.parametrize("with_boundaries", [True, False], ids=["cu_seq_lens", "position_ids_only"])
def test_varlen_flash_hands_the_kernel_each_sequence_of_a_packed_row(tiny_models, monkeypatch, with_boundaries):
    monkeypatch.setattr(attention, "varlen_attn_kernel", lambda: reference_varlen_kernel)
    model = copy.deepcopy(tiny_models[attention.NAME]).to(torch.bfloat16)  # the kernel takes half precision
    with torch.no_grad():
        expected = model(**packed_row(with_boundaries)).logits[0].float()
        model.config._attn_implementation = attention.VARLEN_FLASH
        packed = model(**packed_row(with_boundaries)).logits[0].float()
    torch.testing.assert_close(packed, expected, atol=2e-2, rtol=2e-2)


def test_auto_picks_varlen_sdpa_on_a_cpu_and_a_variable_length_kernel_on_a_gpu(monkeypatch):
    assert attention.resolve("auto", torch.device("cpu")) == attention.NAME
    assert attention.resolve("sdpa", torch.device("cpu")) == "sdpa"  # a name is used as it is
    cuda = torch.device("cuda", 0)
    monkeypatch.setattr(attention, "torch_has_varlen_attention", lambda device: True)
    assert attention.resolve("auto", cuda) == attention.VARLEN_FLASH
    monkeypatch.setattr(attention, "torch_has_varlen_attention", lambda device: False)
    assert attention.resolve("auto", cuda) == attention.NAME
    real_find_spec = attention.importlib.util.find_spec
    monkeypatch.setattr(
        attention.importlib.util, "find_spec", lambda name: object() if name == "flash_attn" else real_find_spec(name)
    )
    assert attention.resolve("auto", cuda) == "flash_attention_2"


def test_auto_leaves_out_a_torch_varlen_kernel_without_grouped_query_heads(monkeypatch):
    """PyTorch 2.10-2.12's varlen_attn has no `enable_gqa` (read in torch 2.11.0's source, the version a lent H200
    machine runs): the call would raise TypeError at the first packed row, so `auto` must not choose it there."""

    def kernel_of_torch_2_11(q, k, v, cu_q, cu_k, max_q, max_k, *, return_aux=None, scale=None, window_size=(-1, -1)):
        raise AssertionError("not called")

    monkeypatch.setattr(attention.torch.cuda, "get_device_capability", lambda device: (9, 0))
    monkeypatch.setattr(attention, "varlen_attn_kernel", lambda: reference_varlen_kernel)
    assert attention.torch_has_varlen_attention(torch.device("cuda", 0))
    monkeypatch.setattr(attention, "varlen_attn_kernel", lambda: kernel_of_torch_2_11)
    assert not attention.torch_has_varlen_attention(torch.device("cuda", 0))
    assert attention.resolve("auto", torch.device("cuda", 0)) == attention.NAME


def test_every_model_file_chooses_its_attention_per_device():
    from helpers import CONF_DIR
    from omegaconf import OmegaConf

    for path in sorted((CONF_DIR / "model").glob("*.yaml")):
        assert OmegaConf.load(path).attn_implementation == "auto", path.name
