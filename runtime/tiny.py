"""The embedded default: a small Llama-architecture model and a BPE tokenizer, built by the project itself.

No weights can be downloaded on an offline machine, so the base model is random-initialised from the sizes in
`conf/model/tiny.yaml`, and its tokenizer is trained deterministically on a frozen corpus
(`model.tiny.tokenizer_corpus`: the SFT conversations of 2026-12-07, gzipped). The SFT file itself is not the corpus,
so a new SFT mix post-trains the same base model, as it would a hub checkpoint. The result is an ordinary Hugging
Face checkpoint directory (safetensors + PreTrainedTokenizerFast with a chat template), cached under
`.cache/tiny/<hash>/` where the hash covers the sizes, `init_seed` and the corpus's text (not its path, not its
compression), so it is built once. The run's `seed` does not draw it: seeds vary the post-training of one base model.

    python -m runtime.tiny     # (make tiny) build or find the default of conf/model/tiny.yaml
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a command: a typo in the config fails here, before torch and TRL load
    from runtime.cli import check_command_line

    check_command_line()

import dataclasses
import gzip
import hashlib
import json
from pathlib import Path

from runtime.cli import stage_main
from runtime.files import save_checkpoint
from runtime.layout import REPO_ROOT

CACHE_DIR = REPO_ROOT / ".cache" / "tiny"
BUILDER_VERSION = 3  # bump when the build below changes, so cached builds are not reused

SPECIAL_TOKENS = ["<|pad|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]

# One line per turn, no newlines: `<|user|>question<|end|><|assistant|>answer<|end|>`. `<|end|>` is the end-of-turn
# and end-of-sequence token; it sits inside {% generation %} so assistant-only loss trains the model to stop.
# With tools: a first line names them, an assistant turn may end in calls, `<call calculator>{"expression": "7 + 5"}
# </call>`, and each result comes back as a `<|tool|>12<|end|>` turn, outside {% generation %}: never trained on.
# A conversation without tools renders exactly as before tools existed.
CHAT_TEMPLATE = (
    "{%- if tools -%}<|system|>tools:{%- for tool in tools %} {{ (tool.function or tool).name }}{%- endfor -%}<|end|>"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "<|assistant|>{% generation %}{{ message['content'] or '' }}"
    "{%- for call in message['tool_calls'] or [] -%}"
    "<call {{ call.function.name }}>"
    "{{- call.function.arguments if call.function.arguments is string else call.function.arguments | tojson -}}"
    "</call>"
    "{%- endfor -%}"
    "<|end|>{% endgeneration %}"
    "{%- else -%}"
    "<|{{ message['role'] }}|>{{ message['content'] }}<|end|>"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}"
)

# How TRL (`parse_response`) and the eval's tool loop read calls back out of a generated assistant turn. Set when tools
# are offered (models.prepare_for_tools), not saved with the tokenizer: TRL decodes every RL completion with it when a
# tokenizer has one, which drops an answer's leading space, and that alone moved the tool-free default's RLVR result.
RESPONSE_TEMPLATE = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|assistant|>",
    "fields": {
        "tool_calls": {
            "open_pattern": r"<call (?P<name>[A-Za-z_][\w.]*)>",
            "close_pattern": r"</call>",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": {"name": "{name}", "arguments": "{content}"}},
        },
        "content": {"close_pattern": r"<\|end\|>", "content": "text"},
    },
}


def corpus_bytes(path: Path) -> bytes:
    """The corpus file's JSONL, decompressed when it is gzipped (`.gz`)."""
    data = path.read_bytes()
    if path.suffix != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as error:
        raise _corpus_error(f"{path}: not a readable gzip file ({error})") from None


def corpus_texts(jsonl: bytes, source: Path) -> list[str]:
    """Every message's content, in order: what the tokenizer is trained on. A line that is not a conversation fails
    naming the file and its 1-based line."""
    texts = []
    for number, line in enumerate(jsonl.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            texts.extend(message["content"] for message in json.loads(line)["messages"])
        except (ValueError, KeyError, TypeError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise _corpus_error(
                f"{source}: line {number} is not a conversation with messages ({type(error).__name__}: {error})"
            ) from None
    return texts


def _corpus_error(message: str) -> Exception:
    from data.loading import DataError  # only on failure: data.loading imports the datasets library

    return DataError(f"model.tiny.tokenizer_corpus: {message}")


def build_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE with digits split one by one (arithmetic is learnt per digit), trained deterministically."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<|pad|>",
        eos_token="<|end|>",
        additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>"],
        chat_template=CHAT_TEMPLATE,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )


def build_model(arch, tokenizer):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.num_hidden_layers,
        num_attention_heads=arch.num_attention_heads,
        num_key_value_heads=arch.num_key_value_heads,
        max_position_embeddings=arch.max_position_embeddings,
        tie_word_embeddings=arch.tie_word_embeddings,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        dtype="float32",
    )
    torch.manual_seed(arch.init_seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=False, max_new_tokens=96
    )
    return model


def corpus_path(arch) -> Path:
    return REPO_ROOT / arch.tokenizer_corpus


def cache_key(arch) -> str:
    sizes = {key: value for key, value in _as_dict(arch).items() if key != "tokenizer_corpus"}  # hashed by content
    digest = hashlib.sha256()
    digest.update(json.dumps(sizes, sort_keys=True).encode())
    digest.update(f"builder={BUILDER_VERSION}".encode())
    digest.update(corpus_bytes(corpus_path(arch)))
    return digest.hexdigest()[:16]


def _as_dict(arch) -> dict:
    from omegaconf import OmegaConf

    return dataclasses.asdict(arch) if dataclasses.is_dataclass(arch) else OmegaConf.to_container(arch, resolve=True)


def ensure_tiny_model(arch, cache_dir: Path = CACHE_DIR) -> Path:
    """Return the checkpoint directory of the embedded default, building it once (atomically) if missing."""
    target = Path(cache_dir) / cache_key(arch)
    if (target / "config.json").exists():
        return target
    corpus = corpus_path(arch)
    tokenizer = build_tokenizer(corpus_texts(corpus_bytes(corpus), corpus), arch.vocab_size)
    model = build_model(arch, tokenizer)
    save_checkpoint(model, tokenizer, target)  # parallel test workers may build it at once: the first wins
    params = sum(p.numel() for p in model.parameters())
    print(f"[tiny] built the embedded default: {params / 1e6:.2f}M parameters, vocab {len(tokenizer)} -> {target}")
    return target


def main(cfg) -> None:
    print(ensure_tiny_model(cfg.model.tiny))


if __name__ == "__main__":
    stage_main(main)()
