"""What ran is what is recorded: a manifest holds the arguments the trainer actually ran with (and no other trainer's),
a checkpoint is reused only when its parent's content and its own config are the same, on-policy pairs are kept, and
the W&B runs hold what the manifest holds — read back from the offline files."""

from __future__ import annotations

import dataclasses
import json
import shutil
import struct
import time
from pathlib import Path

import pytest
import trl
from helpers import compose

from runtime import config, layout
from stages import dpo, rlvr, sampled_pairs, sft

TINY_SFT = [
    "sft.max_steps=2",
    "sft.per_device_train_batch_size=4",
    "data.sft=[{path: 'embedded:sft_train', max_rows: 32}]",
]
TINY_DPO = ["dpo.max_steps=2", "dpo.per_device_train_batch_size=4", "data.preference.0.max_rows=8"]
TINY_RL = [
    "rlvr.max_steps=1",
    "rlvr.per_device_train_batch_size=4",
    "rlvr.num_generations=4",
    "rlvr.max_completion_length=12",
    "rlvr.log_completions=false",
    "data.rlvr.0.max_rows=16",
]


def test_the_manifest_records_the_arguments_the_trainer_ran_with(tmp_path):
    cfg = compose([f"runs_dir={tmp_path}", "run_name=seed2", "logging=none", "seed=2", *TINY_SFT])
    sft.run(cfg)
    manifest = layout.read_manifest(layout.stage_dir(cfg, "sft"))
    section = manifest["config"]["sft"]
    assert (section["seed"], section["bf16"], section["use_cpu"]) == (2, False, True)
    assert section["max_steps"] == 2 and section["parent"] == "base"  # TRL's fields and our options, one section
    assert section["output_dir"] == str(layout.work_dir(cfg, "sft")) and section["run_name"] == "seed2-sft"
    assert "dpo" not in manifest["config"] and "rlvr" not in manifest["config"]  # not what this stage ran
    trained_with = set(f.name for f in dataclasses.fields(trl.SFTConfig) if f.init)
    assert set(section) - {f.name for f in dataclasses.fields(config.SFTOptions)} <= trained_with
    env = manifest["environment"]
    assert env["torch_threads"] >= 1 and env["trl"] == trl.__version__ and env["device"].startswith("cpu")


def test_an_rloo_manifest_has_no_grpo_only_keys(sft_run):
    cfg = compose(
        [
            f"runs_dir={sft_run.runs_dir}",
            "run_name=shared",
            "logging=none",
            "rlvr=rloo",
            "rlvr.parent=sft",
            "overwrite=true",
            *TINY_RL,
        ]
    )
    rlvr.run(cfg)
    section = layout.read_manifest(layout.stage_dir(cfg, "rlvr"))["config"]["rlvr"]
    grpo_only = {f.name for f in dataclasses.fields(trl.GRPOConfig)} - {
        f.name for f in dataclasses.fields(trl.RLOOConfig)
    }
    assert {"loss_type", "scale_rewards"} <= grpo_only  # what the issue saw recorded for RLOO runs
    assert not grpo_only & set(section), sorted(grpo_only & set(section))
    assert section["trainer"] == "rloo" and section["beta"] == 0.01


def test_a_checkpoint_is_reused_only_for_the_same_parent_content_and_config(tmp_path, capsys):
    """SFT retrained with another config: DPO, trained from the replaced SFT, is trained again (its parent's content
    changed though its path did not), and the eval result of the old SFT is not reused for the new one."""
    from eval import run as eval_run

    quick_eval = ["eval.max_rows=2", "eval.max_new_tokens=4", "eval.num_workers=1", "eval.decontamination.action=off"]
    base = [f"runs_dir={tmp_path}", "run_name=lineage", "logging=none", *TINY_SFT, *TINY_DPO, *quick_eval]
    cfg = compose(base)
    assert sft.run(cfg) == "trained" and dpo.run(cfg) == "trained"
    eval_run.evaluate(cfg, "sft")
    first_sft = layout.read_manifest(layout.stage_dir(cfg, "sft"))
    first_dpo = layout.read_manifest(layout.stage_dir(cfg, "dpo"))
    assert first_dpo["parent_id"] == first_sft["id"] and len(first_sft["id"]) == 20
    capsys.readouterr()

    assert sft.run(cfg) == "reused" and dpo.run(cfg) == "reused"
    assert "same parent" in capsys.readouterr().out and eval_run.up_to_date(cfg, "sft") is not None

    changed = compose([*base, "sft.max_steps=3"])
    assert sft.run(changed) == "trained"
    assert "was trained with another config (sft.max_steps: 2 -> 3)" in capsys.readouterr().out
    assert eval_run.up_to_date(changed, "sft") is None  # same path, other weights: scored again
    new_sft = layout.read_manifest(layout.stage_dir(cfg, "sft"))
    assert new_sft["id"] != first_sft["id"]

    assert dpo.run(changed) == "trained"
    assert "was trained from another parent" in capsys.readouterr().out
    assert layout.read_manifest(layout.stage_dir(cfg, "dpo"))["parent_id"] == new_sft["id"]

    assert dpo.run(compose([*base, "sft.max_steps=3", "dpo.beta=0.5"])) == "trained"
    assert "(dpo.beta: 5.0 -> 0.5)" in capsys.readouterr().out


def test_a_key_added_since_a_checkpoint_was_trained_retrains_it_only_when_set_off_its_default(tmp_path, capsys):
    """A checkpoint from before `model.hub_kernels` and a data source's `datasets` existed (its record lacks the keys,
    so its config hash differs):
    reused while the key keeps the default that reproduces what it was trained with, trained again when not. Before,
    every key the toolkit added retrained every stage of every run."""
    from runtime import files

    cfg = compose([f"runs_dir={tmp_path}", "run_name=upgraded", "logging=none", *TINY_SFT])
    assert sft.run(cfg) == "trained"
    path = layout.stage_dir(cfg, "sft") / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["config"]["model"]["hub_kernels"]
    del manifest["config"]["data"]["sft"][0]["datasets"]  # a field of a listed data source, added later too
    manifest["config_hash"] = "from-before-the-key"
    files.write_json(path, manifest)
    capsys.readouterr()
    assert sft.run(cfg) == "reused"
    assert "keys added since, at their defaults: data.0.datasets, model.hub_kernels" in capsys.readouterr().out
    assert (
        sft.run(
            compose([f"runs_dir={tmp_path}", "run_name=upgraded", "logging=none", *TINY_SFT, "model.hub_kernels=true"])
        )
        == "trained"
    )
    assert "(model.hub_kernels: — -> True)" in capsys.readouterr().out


def test_a_data_file_edited_in_place_is_other_data_and_is_trained_on_again(tmp_path, capsys):
    """The same path, other rows: the checkpoint trained on the old file is not reused (a path-only identity reused
    it, and the run's results silently came from the old data)."""
    from data.generate import EMBEDDED_DIR

    data = tmp_path / "sft.jsonl"
    lines = (EMBEDDED_DIR / "sft_train.jsonl").read_text().splitlines()[:32]
    data.write_text("\n".join(lines) + "\n")
    cfg = compose(
        [f"runs_dir={tmp_path}", "run_name=edited", "logging=none", *TINY_SFT[:2], f"data.sft=[{{path: '{data}'}}]"]
    )
    assert sft.run(cfg) == "trained" and sft.run(cfg) == "reused"
    [recorded] = layout.read_manifest(layout.stage_dir(cfg, "sft"))["data"]["content"]
    data.write_text("\n".join(lines[1:] + lines[:1]) + "\n")  # the same rows in another order
    capsys.readouterr()
    assert sft.run(cfg) == "trained"
    assert f"data.sft.0 content: {recorded} -> " in capsys.readouterr().out


def test_the_verifier_identity_follows_every_source_byte_and_each_scoring_librarys_version(tmp_path, monkeypatch):
    import shutil
    from importlib import metadata

    import rewards
    from rewards.identity import source_and_libraries_id, verifier_code_id

    copy = tmp_path / "rewards"
    shutil.copytree(Path(rewards.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert source_and_libraries_id(copy) == verifier_code_id()  # names and bytes, not where it is installed
    source = copy / "gsm8k.py"
    source.write_text(source.read_text() + "\n")
    edited = source_and_libraries_id(copy)
    assert edited != verifier_code_id()
    real_version = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "0.0" if name == "math-verify" else real_version(name))
    assert source_and_libraries_id(copy) != edited


def test_a_verifier_or_the_reward_changed_since_an_rl_checkpoint_retrains_it_and_a_verifier_rescores_its_evals(
    tmp_path, capsys, monkeypatch
):
    """RLVR trains on what the verifiers say, so the same config against other verifier code is another reward: the
    checkpoint is trained again and eval results are scored again (before, both were reused across a verifier fix).
    So is other code turning their scores into the reward (stages/rl/reward.py: before, a checkpoint trained while
    the process reward paid wrong answers was reused after the gate). SFT, which no verifier scores, is still
    reused."""
    from eval import run as eval_run
    from rewards.identity import verifier_code_id
    from runtime import checkpoints
    from stages.rl import reward

    quick_eval = ["eval.max_rows=2", "eval.max_new_tokens=4", "eval.num_workers=1", "eval.decontamination.action=off"]
    cfg = compose(
        [f"runs_dir={tmp_path}", "run_name=fixed", "logging=none", "rlvr.parent=sft", *TINY_SFT, *TINY_RL, *quick_eval]
    )
    assert sft.run(cfg) == "trained" and rlvr.run(cfg) == "trained"
    eval_run.evaluate(cfg, "rlvr")
    recorded = layout.read_manifest(layout.stage_dir(cfg, "rlvr"))["data"]["verifiers"]
    assert recorded == verifier_code_id()
    assert json.loads((layout.run_dir(cfg) / "eval" / "rlvr.json").read_text())["verifier_code_id"] == recorded
    assert rlvr.run(cfg) == "reused" and eval_run.up_to_date(cfg, "rlvr") is not None

    monkeypatch.setattr(checkpoints, "verifier_code_id", lambda: "a-fixed-verifier")
    monkeypatch.setattr(eval_run, "verifier_code_id", lambda: "a-fixed-verifier")
    capsys.readouterr()
    assert sft.run(cfg) == "reused"
    assert eval_run.up_to_date(cfg, "rlvr") is None
    assert rlvr.run(cfg) == "trained"
    assert f"(verifier code: {recorded} -> a-fixed-verifier)" in capsys.readouterr().out

    composed = layout.read_manifest(layout.stage_dir(cfg, "rlvr"))["data"]["reward_code"]
    assert composed == reward.reward_code_id()
    monkeypatch.setattr(rlvr, "reward_code_id", lambda: "a-gated-reward")
    assert rlvr.run(cfg) == "trained"
    assert f"(reward code: {composed} -> a-gated-reward)" in capsys.readouterr().out
    assert rlvr.run(cfg) == "reused"


def test_onpolicy_pairs_are_published_with_both_scores(sft_run, tmp_path):
    cfg = compose(
        [
            f"runs_dir={tmp_path}",
            "run_name=onpolicy",
            "logging=none",
            "dpo.pairs=onpolicy",
            f"dpo.parent={layout.stage_dir(sft_run, 'sft')}",
            "dpo.onpolicy_prompts=48",
            "dpo.onpolicy_samples=4",
            "dpo.onpolicy_max_new_tokens=16",
            "dpo.max_steps=1",
            "dpo.per_device_train_batch_size=4",
        ]
    )
    dpo.run(cfg)
    checkpoint = layout.stage_dir(cfg, "dpo")
    manifest = layout.read_manifest(checkpoint)
    rows = [json.loads(line) for line in (checkpoint / sampled_pairs.ONPOLICY_PAIRS_FILE).read_text().splitlines()]
    assert (
        manifest["data"]["pairs_file"] == sampled_pairs.ONPOLICY_PAIRS_FILE
        and len(rows) == manifest["data"]["rows"] > 0
    )
    for row in rows:
        assert row["chosen_score"] > row["rejected_score"]
        assert row["verifier"] in ("gsm8k", "math", "ifeval") and row["ground_truth"]
        assert row["prompt"][-1]["role"] == "user" and row["chosen"][0]["role"] == "assistant"


def test_a_pools_answers_are_judged_beside_the_parents_and_published_with_who_wrote_them():
    from datasets import Dataset

    from runtime.generation import Generation

    prompts = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": f"What is {n} + 1?"}],
                "dataset": "gsm8k",
                "ground_truth": f"{n + 1}",
            }
            for n in (3, 8)
        ]
    )
    parent = [Generation(f"The answer is {n}.", True, 5) for n in (3, 8)]  # wrong: the question's own number
    pool = [Generation(f"The answer is {n + 1}.", True, 5) for n in (3, 8)]  # right
    groups = sampled_pairs.Groups([[p, p, q] for p, q in zip(parent, pool)], ["parent", "parent", "other"])
    _, saved, stats = sampled_pairs.verifier_pairs(prompts, groups)
    assert [(row["chosen_by"], row["rejected_by"]) for row in saved] == [("other", "parent")] * 2
    assert [row["chosen"][0]["content"] for row in saved] == ["The answer is 4.", "The answer is 9."]
    assert (stats["pool_share_chosen"], stats["pool_share_rejected"]) == (1.0, 0.0)

    assert sampled_pairs.pool_shares(saved, ["parent", "parent", "parent"]) == {}  # no pool: no pool metrics


def test_a_pool_samples_beside_the_parent_and_a_member_with_other_weights_retrains(sft_run, tmp_path, capsys):
    sft_dir = layout.stage_dir(sft_run, "sft")
    member = tmp_path / "member"
    shutil.copytree(sft_dir, member)
    cfg = compose(
        [
            f"runs_dir={tmp_path}",
            "run_name=pooled",
            "logging=none",
            "dpo.pairs=onpolicy",
            f"dpo.parent={sft_dir}",
            f"dpo.onpolicy_models=[base,{member}]",
            "dpo.onpolicy_prompts=48",
            "dpo.onpolicy_samples=2",
            "dpo.onpolicy_max_new_tokens=16",
            "dpo.max_steps=1",
            "dpo.per_device_train_batch_size=4",
        ]
    )
    assert dpo.run(cfg) == "trained"
    checkpoint = layout.stage_dir(cfg, "dpo")
    manifest = layout.read_manifest(checkpoint)
    rows = [json.loads(line) for line in (checkpoint / sampled_pairs.ONPOLICY_PAIRS_FILE).read_text().splitlines()]
    assert set(manifest["data"]["sampled_by"]) == {"base", str(member)}
    assert manifest["data"]["sampled_by"][str(member)] == layout.read_manifest(sft_dir)["id"]
    for row in rows:  # every answer to the prompt, the pool's after the parent's, each with its score
        assert row["sampled_by"] == ["parent"] * 2 + ["base"] * 2 + [str(member)] * 2
        assert len(row["responses"]) == len(row["verifier_scores"]) == 6
        chosen = row["responses"][row["chosen_index"]]
        assert chosen == row["chosen"][0]["content"] and row["chosen_by"] == row["sampled_by"][row["chosen_index"]]
        assert row["verifier_scores"][row["chosen_index"]] == max(row["verifier_scores"]) == row["chosen_score"]
    assert any(row["responses"][2:4] != row["responses"][:2] for row in rows)  # the base writes its own answers
    for side in ("chosen", "rejected"):
        share = sum(row[f"{side}_by"] != "parent" for row in rows) / len(rows)
        assert manifest["metrics"][f"pool_share_{side}"] == pytest.approx(share)

    capsys.readouterr()
    assert dpo.run(cfg) == "reused"
    recorded = json.loads((member / "manifest.json").read_text())
    (member / "manifest.json").write_text(json.dumps({**recorded, "id": "other-weights"}))  # same path, new content
    assert dpo.run(cfg) == "trained"
    assert "sampled by: {" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------------------------
# W&B, read back from the offline run files


def wandb_records(path: Path):
    """The records of an offline `run-<id>.wandb` file, decoded with wandb's own protobuf classes.

    wandb 0.31 ships no Python reader for these files (its `datastore` module is gone; `LocalApi` is not released),
    so this walks the file's framing — a 7-byte `:W&B` header, then LevelDB-log chunks (crc32c, length, type) in
    32 KiB blocks — and hands each record to `wandb_internal_pb2.Record`."""
    from wandb.proto import wandb_internal_pb2

    data, pos, block, pending = path.read_bytes(), 7, 32 * 1024, b""
    if not data:
        return  # created, nothing written yet
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a chunk header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST chunk: a record is complete
            yield wandb_internal_pb2.Record.FromString(pending)
            pending = b""


def read_offline_run(run_dir: Path, timeout_s: float = 60.0) -> dict:
    """The run's records once its file is complete: wandb.finish() hands the run to wandb-core's writer, another
    process, which may still be writing it on a loaded machine; a finished run's file ends in an `exit` record."""
    from google.protobuf.message import DecodeError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            records = [record for path in run_dir.glob("run-*.wandb") for record in wandb_records(path)]
        except DecodeError:  # a record being written
            records = []
        if records and records[-1].WhichOneof("record_type") == "exit":
            break
        assert time.monotonic() < deadline, f"{run_dir}: no exit record after {timeout_s} s: the run never finished"
        time.sleep(0.2)
    run = {"config": {}, "summary": {}, "history_keys": set()}
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.update(name=record.run.display_name, group=record.run.run_group, job_type=record.run.job_type)
            run["config"].update({item.key: json.loads(item.value_json) for item in record.run.config.update})
        elif kind == "config":
            run["config"].update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind == "summary":
            run["summary"].update(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.summary.update}
            )
        elif kind == "history":
            run["history_keys"].update(item.key or "/".join(item.nested_key) for item in record.history.item)
    return run


@pytest.mark.slow
def test_wandb_runs_hold_the_recorded_config_under_our_names_and_the_eval_generations(tmp_path, monkeypatch):
    from eval import run as eval_run

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_DISABLED", raising=False)
    cfg = compose(
        [
            f"runs_dir={tmp_path}",
            "run_name=tracked",
            "logging=wandb",
            "logging.mode=offline",
            *TINY_SFT,
            "sft.logging_steps=1",
            "eval.max_rows=2",
            "eval.max_new_tokens=4",
            "eval.num_workers=1",
            "eval.decontamination.action=off",
        ]
    )
    sft.run(cfg)
    eval_run.evaluate(cfg, "sft")

    runs = {}
    for run_dir in (tmp_path / "tracked" / "wandb" / "wandb").glob("offline-run-*"):
        run = read_offline_run(run_dir)
        runs[run["job_type"]] = run | {"dir": run_dir}
    assert set(runs) == {"sft", "eval-sft"}
    manifest = layout.read_manifest(layout.stage_dir(cfg, "sft"))

    trained = runs["sft"]
    assert (trained["name"], trained["group"]) == ("tracked-sft", "tracked")
    flat = config.flatten(manifest["config"])
    assert {k: v for k, v in trained["config"].items() if k in flat} == flat  # the manifest's values, all of them
    extra = set(trained["config"]) - set(flat)
    assert {key for key in extra if not key.startswith("environment.")} == {"parent_id", "config_hash", "_wandb"}
    assert trained["config"]["environment.torch_threads"] == manifest["environment"]["torch_threads"]
    assert trained["config"]["run_name"] == "tracked" and trained["config"]["sft.seed"] == 42
    assert not {"learning_rate", "output_dir", "model_type", "model/num_parameters"} & set(trained["config"])
    assert "train/loss" in trained["history_keys"]

    evaluated = runs["eval-sft"]
    assert (evaluated["name"], evaluated["group"]) == ("tracked-eval-sft", "tracked")
    result = json.loads((tmp_path / "tracked" / "eval" / "sft.json").read_text())
    for name, bench in result["benchmarks"].items():
        assert evaluated["summary"][f"eval/{name}"] == pytest.approx(bench["score"])
        table_path = evaluated["summary"][f"eval/{name}/generations/path"]
        table = json.loads((evaluated["dir"] / "files" / table_path).read_text())
        assert table["columns"] == ["id", "sample", "prompt", "response", "ground_truth", "score"]
        assert len(table["data"]) == bench["n"] == 2
    assert evaluated["config"]["checkpoint.id"] == manifest["id"]


def test_a_checkpoint_id_is_its_content(tmp_path):
    from runtime.lineage import checkpoint_id

    (tmp_path / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "config.json").write_text("{}")
    first = checkpoint_id(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"status": "complete"}))  # a manifest without an id: hashed
    assert checkpoint_id(tmp_path) == first
    (tmp_path / "model.safetensors").write_bytes(b"weightz")  # one byte
    assert checkpoint_id(tmp_path) != first
    (tmp_path / "manifest.json").write_text(json.dumps({"id": "published"}))  # a published checkpoint: its own id
    assert checkpoint_id(tmp_path) == "published"
    assert checkpoint_id("nobody/not-cached", "v1") == "nobody/not-cached@v1"  # offline, not in the hub cache
