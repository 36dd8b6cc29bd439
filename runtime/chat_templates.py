"""Chat templates for SFT's assistant-only loss, decided before any weights load.

TRL's assistant-only loss needs a chat template whose assistant turns sit in `{% generation %}` blocks; most chat
models ship templates without them. For such a model SFT trains with a *training template* that renders exactly
the text of the model's own template, with the markers added, and the checkpoint it saves keeps the model's own
template (the one inference uses):

    the parent's template (tokenizer files, GGUF metadata: read without loading weights or converting)
      -> already marked: used as it is
      -> else model.training_chat_template (a file in conf/chat_templates/), else TRL's training version of it
      -> checked to render the same text as the model's own template on sample conversations
      -> sft.py sets it on the tokenizer while the trainer tokenizes and trains, and puts the original back
A template that cannot be marked is a TemplateError here, one line saying what to set.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from omegaconf import DictConfig
from trl.chat_template_utils import has_generation_markers

from runtime import models
from runtime.layout import REPO_ROOT
from runtime.models import TEMPLATES_DIR

# Rendered with both templates: a training template must produce the same text for each (system turn or the
# template's default one, several turns, the generation prompt inference appends).
SAMPLE_CONVERSATIONS = (
    [{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "The answer is 5."}],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi."},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "And 4 + 4?"},
        {"role": "assistant", "content": "8."},
    ],
    [{"role": "user", "content": "Name a colour."}],
)


class TemplateError(ValueError):
    """The model's chat template cannot be used for assistant-only loss; the message says what to set."""


def training_chat_template(original: str | None, model: DictConfig) -> str | None:
    """The template to train with when `original` (the model's own) has no generation markers; None when it has.

    `model.training_chat_template` (a file name in conf/chat_templates/ or a path) wins; otherwise TRL's training
    version of the template, when TRL ships one (Qwen2.5, Llama 3, Phi-3, Gemma, ...)."""
    if original is None:
        raise TemplateError(
            f"model {model.name} has no chat template: set model.training_chat_template=<file.jinja> "
            "or sft.assistant_only_loss=false"
        )
    if has_generation_markers(original):
        return None
    if model.training_chat_template:
        path = models.template_file(model.training_chat_template, "model.training_chat_template")
        training = path.read_text(encoding="utf-8")
        if not has_generation_markers(training):
            raise TemplateError(
                f"model.training_chat_template={model.training_chat_template}: {path} has no {{% generation %}} markers"
            )
        source = str(path)
    else:
        training = trl_training_template(original)
        if training is None:
            raise TemplateError(
                f"model {model.name}: its chat template has no {{% generation %}} markers and TRL has no training "
                "version of it, so assistant-only loss cannot mask it: set model.training_chat_template=<file.jinja> "
                f"(its template with the markers added, as in {TEMPLATES_DIR.relative_to(REPO_ROOT)}/) or "
                "sft.assistant_only_loss=false (trains on the prompts too)"
            )
        source = "TRL's training template"
    check_renders_like(original, training, source)
    return training


def trl_training_template(original: str) -> str | None:
    """TRL's training version of a template it recognises (by exact text, as TRL's own lookup does), else None.

    Read from `trl.chat_template_utils`, which keeps each `<family>_chat_template` beside its
    `<family>_training_chat_template`; TRL's lookup itself needs a loaded tokenizer, this only the text."""
    from trl import chat_template_utils

    suffix = "_training_chat_template"
    for name in dir(chat_template_utils):
        if name.endswith(suffix):
            if getattr(chat_template_utils, name.removesuffix(suffix) + "_chat_template", None) == original:
                return getattr(chat_template_utils, name)
    return None


def check_renders_like(original: str, training: str, source: str) -> None:
    """A training template must render the model's own text (the markers only say which part is trained)."""
    from transformers.utils.chat_template_utils import render_jinja_template

    specials = {"bos_token": "<BOS>", "eos_token": "<EOS>"}
    for conversation in SAMPLE_CONVERSATIONS:
        prompt = conversation[-1]["role"] == "user"
        [expected], _ = render_jinja_template(
            [conversation], chat_template=original, add_generation_prompt=prompt, **specials
        )
        [rendered], _ = render_jinja_template(
            [conversation], chat_template=training, add_generation_prompt=prompt, **specials
        )
        if rendered != expected:
            raise TemplateError(
                f"{source} renders differently from the model's own chat template: {rendered!r} instead of {expected!r}"
            )


def check_tools_template(cfg: DictConfig, parent: str) -> None:
    """Before any work: with tools offered (rlvr.tools, eval.tools), the template the chain's checkpoints keep (SFT's
    parent's) must render tool calls and results and have a response template to read the calls back
    (`models.prepare_for_tools`, on a stand-in tokenizer holding the template: no model is loaded)."""
    template = parent_chat_template(cfg, parent)
    if template is None:
        return  # known only once the tokenizer loads; the stage checks it then, before the weights load
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    stand_in = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(WordLevel({"<unk>": 0}, unk_token="<unk>")),
        chat_template=template,
        bos_token="<s>",
        eos_token="</s>",
    )
    saved = Path(parent_location(cfg, parent)) / "tokenizer_config.json"
    if saved.exists():  # a response template saved with the tokenizer (the tiny model's; transformers' own field)
        stand_in.response_template = json.loads(saved.read_text(encoding="utf-8")).get("response_template")
    models.prepare_for_tools(stand_in, cfg.model.name)


# ----------------------------------------------------------------------------------------------------------------
# Reading a template without loading a model


def parent_chat_template(cfg: DictConfig, parent: str) -> str | None:
    """The chat template of SFT's parent, read from its files (None: it can only be known once the tokenizer loads,
    e.g. the embedded model before it is built, or a hub model not in the cache); model.chat_template when set."""
    if cfg.model.chat_template:
        return models.template_file(cfg.model.chat_template, "model.chat_template").read_text(encoding="utf-8")
    if parent == "base" and cfg.model.gguf_file:
        converted = models.GGUF_CACHE_DIR / Path(cfg.model.gguf_file).stem
        if (converted / "config.json").exists():
            return read_chat_template(converted)
        return gguf_chat_template(models.gguf_source(cfg.model.path, cfg.model.gguf_file))
    location = parent_location(cfg, parent)
    if location.startswith("embedded:"):
        return None
    if Path(location).is_dir():
        return read_chat_template(Path(location))
    return hub_chat_template(location, cfg.model.revision)


def parent_location(cfg: DictConfig, parent: str) -> str:
    """Where SFT's parent is: the model's path (a hub id, a directory, embedded:tiny) or a checkpoint directory."""
    return cfg.model.path if parent == "base" else str(models.resolve_parent(cfg, parent))


def read_chat_template(directory: Path) -> str | None:
    """A saved tokenizer's template: chat_template.jinja (what transformers 5 writes) or tokenizer_config.json's
    field (older checkpoints)."""
    jinja = directory / "chat_template.jinja"
    if jinja.exists():
        return jinja.read_text(encoding="utf-8")
    config = directory / "tokenizer_config.json"
    template = json.loads(config.read_text(encoding="utf-8")).get("chat_template") if config.exists() else None
    if isinstance(template, list):  # named variants: the default one is what apply_chat_template uses
        template = next((t["template"] for t in template if t.get("name") == "default"), None)
    return template


def hub_chat_template(repo_id: str, revision: str | None) -> str | None:
    """From the local hub cache only (no download): None when the files are not cached yet."""
    from huggingface_hub import try_to_load_from_cache

    for filename in ("chat_template.jinja", "tokenizer_config.json"):
        cached = try_to_load_from_cache(repo_id, filename, revision=revision)
        if isinstance(cached, str):
            return read_chat_template(Path(cached).parent)
    return None


def gguf_chat_template(path: Path) -> str | None:
    from gguf import GGUFReader

    try:
        field = GGUFReader(path).fields.get("tokenizer.chat_template")
    except Exception as error:  # noqa: BLE001 -- a truncated or foreign file raises anything from struct to numpy
        raise SystemExit(f"{path}: cannot be read as a GGUF file ({type(error).__name__}: {error})") from error
    return bytes(field.parts[field.data[0]]).decode("utf-8") if field else None


# ----------------------------------------------------------------------------------------------------------------
# Training with it


@contextlib.contextmanager
def for_training(tokenizer, model: DictConfig):
    """Within the block the tokenizer renders with the training template (when one is needed); afterwards it has
    its own template back, so the checkpoint saves the template inference uses."""
    original = tokenizer.chat_template
    training = training_chat_template(original, model)
    if training is not None:
        tokenizer.chat_template = training
    try:
        yield tokenizer
    finally:
        tokenizer.chat_template = original
