"""The SFT stage: the label mask, a tiny real run (loss falls, files appear, the checkpoint reloads and generates),
fp32 on the CPU, and bad data failing before any model loads."""

from __future__ import annotations

import gzip
import json
import re
import shutil

import pytest
import torch
from helpers import REPO_ROOT, compose

from data.loading import DataError
from runtime import layout, models, training
from runtime.generation import generate
from runtime.tiny import ensure_tiny_model
from stages import sft

MANIFEST_FIELDS = {
    "id",
    "stage",
    "status",
    "parent",
    "parent_id",
    "config_hash",
    "config",
    "data",
    "git_commit",
    "environment",
    "started_at",
    "finished_at",
    "wall_time_s",
    "metrics",
    "launch",
}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    return ensure_tiny_model(compose().model.tiny, cache_dir=tmp_path_factory.mktemp("tiny"))


def test_the_run_seed_does_not_draw_the_base_model_and_init_seed_does(tiny_checkpoint):
    """Seeds vary the post-training of one given base model, as they would a hub checkpoint's: `seed` leaves the
    embedded default's weights alone; `model.tiny.init_seed` (or `=${seed}`: one per run) draws another."""
    from transformers import AutoTokenizer

    from runtime import tiny

    arch = compose(["seed=2"]).model.tiny
    assert tiny.cache_key(arch) == tiny.cache_key(compose(["seed=7"]).model.tiny)
    assert tiny.cache_key(arch) != tiny.cache_key(compose(["model.tiny.init_seed=3"]).model.tiny)
    assert compose(["model.tiny.init_seed=${seed}", "seed=7"]).model.tiny.init_seed == 7

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    given = torch.nn.utils.parameters_to_vector(tiny.build_model(arch, tokenizer).parameters())
    again = torch.nn.utils.parameters_to_vector(
        tiny.build_model(compose(["seed=7"]).model.tiny, tokenizer).parameters()
    )
    other = compose(["model.tiny.init_seed=3"]).model.tiny
    drawn = torch.nn.utils.parameters_to_vector(tiny.build_model(other, tokenizer).parameters())
    assert torch.equal(given, again)
    assert not torch.allclose(given, drawn)


def test_the_tokenizer_corpus_decides_the_base_model_by_its_text_not_its_path_or_compression(tiny_checkpoint, tmp_path):
    """The base model's key covers the corpus's text: the same conversations plain, or gzipped again with another
    header, are the same base; other conversations train another vocabulary, so another base."""
    from transformers import AutoTokenizer

    from runtime import tiny

    default = compose().model.tiny
    text = tiny.corpus_bytes(REPO_ROOT / default.tokenizer_corpus)
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(text)
    regzipped = tmp_path / "again.jsonl.gz"
    regzipped.write_bytes(gzip.compress(text, compresslevel=1, mtime=1))
    for same in (plain, regzipped):
        assert tiny.cache_key(compose([f"model.tiny.tokenizer_corpus={same}"]).model.tiny) == tiny.cache_key(default)

    other = tmp_path / "other.jsonl"
    other.write_bytes(b"".join(text.splitlines(keepends=True)[::2]))  # half the conversations
    arch = compose([f"model.tiny.tokenizer_corpus={other}"]).model.tiny
    assert tiny.cache_key(arch) != tiny.cache_key(default)
    built = AutoTokenizer.from_pretrained(tiny.ensure_tiny_model(arch, cache_dir=tmp_path / "tiny"))
    assert built.get_vocab() != AutoTokenizer.from_pretrained(tiny_checkpoint).get_vocab()


def test_a_new_sft_file_post_trains_the_same_base_model(tmp_path, monkeypatch):
    """The default's tokenizer corpus is a frozen file, not the SFT file: rewriting the SFT data (another mix,
    bench/experiment_sft_mix.py) leaves the base model, as a hub checkpoint would stay. With the SFT file as the
    corpus (the default until 2026-12-07) the same rewrite builds another base."""
    from runtime import tiny

    frozen = compose().model.tiny
    sft_as_corpus = compose(["model.tiny.tokenizer_corpus=data/embedded/sft_train.jsonl"]).model.tiny
    before = {name: tiny.cache_key(arch) for name, arch in (("frozen", frozen), ("sft", sft_as_corpus))}

    embedded = tmp_path / "data" / "embedded"
    shutil.copytree(REPO_ROOT / "data" / "embedded", embedded)
    sft = embedded / "sft_train.jsonl"
    sft.write_bytes(b"".join(sft.read_bytes().splitlines(keepends=True)[::2]))  # another mix: half the conversations
    monkeypatch.setattr(tiny, "REPO_ROOT", tmp_path)
    assert tiny.cache_key(frozen) == before["frozen"]
    assert tiny.cache_key(sft_as_corpus) != before["sft"]


@pytest.mark.parametrize(
    "name, content, named",
    [
        ("broken.jsonl", b'{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": [\n', "line 2"),
        ("rows.jsonl", b'{"messages": [{"role": "user", "content": "hi"}]}\n\n{"prompt": "no messages"}\n', "line 3"),
        ("cut.jsonl.gz", gzip.compress(b'{"messages": []}\n' * 100, mtime=0)[:40], "not a readable gzip file"),
    ],
    ids=["not-json", "no-messages", "cut-gzip"],  # the same names in every xdist worker
)
def test_a_malformed_tokenizer_corpus_fails_naming_the_file_and_line(tmp_path, name, content, named):
    from data.loading import DataError
    from runtime import tiny

    corpus = tmp_path / name
    corpus.write_bytes(content)
    arch = compose([f"model.tiny.tokenizer_corpus={corpus}"]).model.tiny
    with pytest.raises(DataError) as raised:
        tiny.ensure_tiny_model(arch, cache_dir=tmp_path / "tiny")
    message = str(raised.value)
    assert "\n" not in message and "model.tiny.tokenizer_corpus" in message and str(corpus) in message
    assert named in message
    assert not (tmp_path / "tiny").exists()  # nothing half-built left to be found next time


def _sft_trainer(tiny_checkpoint, tmp_path, rows, *overrides, trainer_cls=None):
    from datasets import Dataset
    from trl import SFTTrainer

    cfg = compose(["logging=none", f"runs_dir={tmp_path}", *overrides])
    model, tokenizer = models.load_model_and_tokenizer(cfg, tiny_checkpoint, trainable=False)
    _, args = training.trainer_args(cfg, "sft")
    trainer_cls = trainer_cls or SFTTrainer
    return trainer_cls(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)


def _loss_and_metrics(trainer, rows: int = 16) -> tuple[float, dict]:
    """compute_loss on the trainer's first `rows` examples, collated as in training, and the metrics it logged."""
    trainer.model.train()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(rows)])
    loss = trainer.compute_loss(trainer.model, trainer._prepare_inputs(batch)).item()
    return loss, {name: values[-1] for name, values in trainer._metrics["train"].items()}


PADDED = ["sft.padding_free=false", "sft.max_length=192", "model.attn_implementation=sdpa"]


def test_label_mask_trains_only_assistant_tokens_including_end_of_turn(tiny_checkpoint, tmp_path):
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "2 + 3 = 5. The answer is 5."},
        {"role": "user", "content": "And 4 + 4?"},
        {"role": "assistant", "content": "The answer is 8."},
    ]
    trainer = _sft_trainer(tiny_checkpoint, tmp_path, [{"messages": conversation}])
    batch = trainer.data_collator([trainer.train_dataset[0]])
    input_ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    tokenizer = trainer.processing_class

    trained = [token for token, label in zip(input_ids, labels) if label != -100]
    assert all(label in (-100, token) for token, label in zip(input_ids, labels))
    assert tokenizer.decode(trained) == "2 + 3 = 5. The answer is 5.<|end|>The answer is 8.<|end|>"
    masked_text = tokenizer.decode([token for token, label in zip(input_ids, labels) if label == -100])
    for prompt_part in ("Be brief.", "What is 2 + 3?", "And 4 + 4?", "<|user|>", "<|system|>", "<|assistant|>"):
        assert prompt_part in masked_text


def test_cpu_training_runs_in_fp32_without_autocast(tiny_checkpoint, tmp_path):
    rows = [json.loads(line) for line in open(layout.REPO_ROOT / "data/embedded/sft_train.jsonl")][:8]
    trainer = _sft_trainer(tiny_checkpoint, tmp_path, rows, "sft.max_steps=1", "sft.per_device_train_batch_size=4")
    assert trainer.args.bf16 is False and trainer.args.fp16 is False
    seen = []
    trainer.model.model.register_forward_hook(
        lambda module, args, output: seen.append((torch.is_autocast_enabled("cpu"), output.last_hidden_state.dtype))
    )
    trainer.train()
    assert seen and all(state == (False, torch.float32) for state in seen)


def test_the_full_logits_loss_and_its_metrics_are_those_of_trls_chunked_head(tiny_checkpoint, tmp_path):
    rows = [json.loads(line) for line in open(layout.REPO_ROOT / "data/embedded/sft_train.jsonl")][:16]
    trl_loss, trl_metrics = _loss_and_metrics(_sft_trainer(tiny_checkpoint, tmp_path, rows))
    trainer = _sft_trainer(tiny_checkpoint, tmp_path, rows, trainer_cls=sft.FullLogitsSFTTrainer)
    loss, metrics = _loss_and_metrics(trainer)
    assert loss == pytest.approx(trl_loss, rel=1e-5)
    assert metrics.keys() == trl_metrics.keys() >= {"entropy", "mean_token_accuracy", "num_tokens"}
    for name, value in trl_metrics.items():
        assert metrics[name] == pytest.approx(value, rel=1e-4), name


def test_padding_free_batches_train_on_the_loss_of_padded_ones(tiny_checkpoint, tmp_path):
    rows = [json.loads(line) for line in open(layout.REPO_ROOT / "data/embedded/sft_train.jsonl")][:16]
    padded = _sft_trainer(tiny_checkpoint, tmp_path, rows, *PADDED, trainer_cls=sft.FullLogitsSFTTrainer)
    padding_free = _sft_trainer(tiny_checkpoint, tmp_path, rows, trainer_cls=sft.FullLogitsSFTTrainer)
    assert "position_ids" in padding_free.data_collator([padding_free.train_dataset[0]])
    (padded_loss, padded_metrics), (loss, metrics) = _loss_and_metrics(padded), _loss_and_metrics(padding_free)
    assert loss == pytest.approx(padded_loss, rel=1e-5)
    assert metrics["num_tokens"] == padded_metrics["num_tokens"]  # real tokens, padding not counted


def test_bf16_request_on_cpu_is_overridden_to_fp32(tmp_path):
    cfg = compose(["logging=none", f"runs_dir={tmp_path}", "sft.bf16=true"])
    _, args = training.trainer_args(cfg, "sft")
    assert args.bf16 is False and args.use_cpu is True


def test_tiny_sft_run_lowers_loss_and_writes_a_complete_checkpoint(sft_run):
    checkpoint = layout.stage_dir(sft_run, "sft")
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    assert MANIFEST_FIELDS <= manifest.keys()
    assert manifest["status"] == "complete" and manifest["stage"] == "sft"
    assert manifest["config"]["sft"]["max_steps"] == 12
    assert manifest["data"]["sources"][0]["rows"] == 400
    metrics = manifest["metrics"]
    assert metrics["global_step"] == 12
    assert metrics["last_logged_loss"] < metrics["first_logged_loss"] - 0.5
    for name in (
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ):
        assert (checkpoint / name).exists(), name
    assert not list(checkpoint.parent.glob(".sft.*")), "no temporary directory may be left behind"


def test_the_interfaces_doc_lists_exactly_the_manifest_fields_a_stage_writes(sft_run):
    doc = (REPO_ROOT / "docs" / "interfaces.md").read_text()
    table = doc[doc.index("| field | what |") :].split("\n\n")[0].splitlines()[2:]
    listed = {name for row in table for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    manifest = json.loads((layout.stage_dir(sft_run, "sft") / "manifest.json").read_text())
    assert listed == set(manifest) == MANIFEST_FIELDS


def test_checkpoint_reloads_with_its_chat_template_and_generates(sft_run):
    model, tokenizer = models.load_model_and_tokenizer(sft_run, layout.stage_dir(sft_run, "sft"), trainable=False)
    assert "{% generation %}" in tokenizer.chat_template
    [[generation]] = generate(model, tokenizer, [[{"role": "user", "content": "Tom has 3 apples."}]], max_new_tokens=8)
    assert 0 < generation.num_tokens <= 8  # twelve steps teach no answers yet, only that the weights load and run


def test_rerun_with_the_same_parent_and_config_reuses_the_checkpoint(sft_run, capsys):
    manifest_before = (layout.stage_dir(sft_run, "sft") / "manifest.json").read_text()
    assert sft.run(sft_run) == "reused"
    assert "is complete, with the same parent" in capsys.readouterr().out
    assert (layout.stage_dir(sft_run, "sft") / "manifest.json").read_text() == manifest_before


BAD_ROWS = {
    "missing messages": ({"conversation": []}, "missing field"),
    "empty conversation": ({"messages": []}, "empty conversation"),
    "unknown role": (
        {"messages": [{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}]},
        "unknown role",
    ),
    "no assistant turn": ({"messages": [{"role": "user", "content": "hi"}]}, "assistant"),
    "non-string content": (
        {"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "x"}]},
        "must be a string",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_bad_data_fails_before_any_model_loads_naming_file_and_line(case, tmp_path, monkeypatch):
    bad_row, message = BAD_ROWS[case]
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    data_file = tmp_path / "mixture.jsonl"
    data_file.write_text("\n".join(json.dumps(row) for row in [good, good, bad_row, good]) + "\n")

    def no_model_may_load(*args, **kwargs):
        raise AssertionError("a model was loaded before the data was validated")

    monkeypatch.setattr(models, "load_model_and_tokenizer", no_model_may_load)
    cfg = compose(["logging=none", f"runs_dir={tmp_path / 'runs'}", f"data.sft=[{{path: '{data_file}'}}]"])
    with pytest.raises(DataError) as caught:
        sft.run(cfg)
    assert "mixture.jsonl" in str(caught.value) and "line 3:" in str(caught.value)
    assert message in str(caught.value)
    assert not (tmp_path / "runs" / "default" / "sft").exists()
