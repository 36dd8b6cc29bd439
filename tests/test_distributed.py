"""The multi-process path on CPU: `make sft NPROC=2 DS=zero2` launches through accelerate + DeepSpeed ZeRO-2 (gloo
backend) and must train the same model as one process with the same global batch.

Slow-ish (each launch is two fresh Python processes); the first ever run also JIT-compiles DeepSpeed's shared-memory
collective op (~1-3 min, cached in ~/.cache/torch_extensions afterwards)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from helpers import REPO_ROOT, compose

ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "WANDB_MODE": "disabled",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
}
STEPS = 4
# Global batch 16 either way: 2 processes x 8, or 1 process x 16. A checkpoint at the last step keeps the log.
SFT = [
    "logging=none",
    f"sft.max_steps={STEPS}",
    "sft.logging_steps=1",
    "data.sft=[{path: 'embedded:sft_train', max_rows: 200}]",
    "sft.save_strategy=steps",
    f"sft.save_steps={STEPS}",
]
DPO = [
    "logging=none",
    "dpo.pairs=offline",
    "data.preference.0.max_rows=64",
    f"dpo.max_steps={STEPS}",
    "dpo.logging_steps=1",
    "dpo.learning_rate=2e-3",
    "dpo.warmup_steps=0",
    "dpo.precompute_ref_log_probs=false",
    "dpo.save_strategy=steps",
    f"dpo.save_steps={STEPS}",
]

# Two PPO steps of 4 rows a process, a checkpoint at every `rlvr.save_steps` (each test sets it).
PPO = [
    "rlvr=ppo",
    "logging=none",
    "rlvr.max_steps=2",
    "rlvr.logging_steps=1",
    "rlvr.per_device_train_batch_size=4",
    "rlvr.num_generations=2",
    "rlvr.max_completion_length=16",
    "rlvr.log_completions=false",
    "rlvr.save_strategy=steps",
    "data.rlvr.0.max_rows=32",
]


def make_command(stage: str, nproc: int, ds: str) -> list[str]:
    """The command `make <stage> NPROC=.. DS=..` runs, read from the Makefile itself (make -n runs nothing)."""
    out = subprocess.run(
        ["make", "-s", "-n", stage, f"NPROC={nproc}", f"DS={ds}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = [line for line in out.splitlines() if f"stages.{stage}" in line][-1]
    return line.split()


def launch(stage: str, overrides: list[str], ds: str = "zero2") -> None:
    command = make_command(stage, nproc=2, ds=ds)
    result = subprocess.run([*command, *overrides], cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]


def logged_losses(runs_dir: Path, run_name: str, stage: str) -> list[float]:
    state = json.loads(
        (runs_dir / run_name / "work" / stage / f"checkpoint-{STEPS}" / "trainer_state.json").read_text()
    )
    return [entry["loss"] for entry in state["log_history"] if "loss" in entry]


def max_weight_difference(a: Path, b: Path) -> float:
    from safetensors.torch import load_file

    first, second = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    # Under DeepSpeed the Trainer saves the consolidated state dict, tied lm_head included: a copy of the embedding
    for weights in (first, second):
        if "lm_head.weight" in weights:
            assert torch.equal(weights.pop("lm_head.weight"), weights["model.embed_tokens.weight"])
    assert first.keys() == second.keys()
    return max((first[k] - second[k]).abs().max().item() for k in first)


def test_make_builds_the_accelerate_deepspeed_command():
    command = make_command("sft", nproc=8, ds="zero3")
    assert command[0].endswith("accelerate") and command[1] == "launch"
    assert command[command.index("--num_processes") + 1] == "8"
    config = command[command.index("--deepspeed_config_file") + 1]
    assert json.loads((REPO_ROOT / config).read_text())["zero_optimization"]["stage"] == 3
    single = make_command("dpo", nproc=1, ds="")
    assert single[0].endswith("python") and single[1:] == ["-m", "stages.dpo"]
    for name in ("zero2", "zero3", "zero3_offload"):
        json.loads((REPO_ROOT / "conf" / "deepspeed" / f"{name}.json").read_text())
    plan = subprocess.run(
        ["make", "-s", "dry-run", "NPROC=8", "DS=zero3", "ARGS=+experiment=tulu3_8b"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert [line.split(" -m ")[1].split()[0] for line in plan] == [
        "stages.sft",
        "stages.dpo",
        "stages.rlvr",
        "eval.run",
        "eval.report",
    ]
    assert all(line.endswith("+experiment=tulu3_8b") for line in plan)


@pytest.fixture(scope="module")
def zero2_sft(tmp_path_factory):
    """SFT two ways: 2 processes x batch 8 under ZeRO-2, and 1 process x batch 16 in this one."""
    from stages import sft

    runs_dir = tmp_path_factory.mktemp("runs")
    launch("sft", [f"runs_dir={runs_dir}", "run_name=zero2", "sft.per_device_train_batch_size=8", *SFT])
    sft.run(compose([f"runs_dir={runs_dir}", "run_name=single", "sft.per_device_train_batch_size=16", *SFT]))
    return runs_dir


@pytest.mark.slow
def test_two_process_zero2_sft_matches_single_process(zero2_sft):
    runs_dir = zero2_sft
    multi, single = logged_losses(runs_dir, "zero2", "sft"), logged_losses(runs_dir, "single", "sft")
    assert len(multi) == len(single) == STEPS
    assert multi[-1] < multi[0]  # it trained
    assert multi == pytest.approx(single, abs=0.02)
    # publish(): one complete checkpoint, written once, with the gathered weights of the same model
    manifest = json.loads((runs_dir / "zero2" / "sft" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["launch"]["num_processes"] == 2
    assert manifest["launch"]["deepspeed_config"] == "conf/deepspeed/zero2.json"
    assert not list((runs_dir / "zero2").glob(".sft.*"))
    assert max_weight_difference(runs_dir / "zero2" / "sft", runs_dir / "single" / "sft") < 1e-3


@pytest.mark.slow
def test_two_process_zero2_dpo_matches_single_process(zero2_sft):
    """DPO from the 2-process SFT checkpoint, again both ways (the reference model is prepared by DeepSpeed too)."""
    from stages import dpo

    runs_dir = zero2_sft
    parent = runs_dir / "zero2" / "sft"
    launch("dpo", [f"runs_dir={runs_dir}", "run_name=zero2", "dpo.per_device_train_batch_size=8", *DPO])
    dpo.run(
        compose(
            [
                f"runs_dir={runs_dir}",
                "run_name=single",
                f"dpo.parent={parent}",
                "dpo.per_device_train_batch_size=16",
                *DPO,
            ]
        )
    )
    multi, single = logged_losses(runs_dir, "zero2", "dpo"), logged_losses(runs_dir, "single", "dpo")
    assert len(multi) == len(single) == STEPS
    assert multi[-1] < multi[0]
    assert multi == pytest.approx(single, abs=0.02)
    manifest = json.loads((runs_dir / "zero2" / "dpo" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["launch"]["num_processes"] == 2


@pytest.mark.slow
def test_two_process_zero2_ppo_trains_its_value_model_and_checkpoints_it(zero2_sft):
    """`rlvr=ppo` in 2 processes under ZeRO-2: the value model replicated under DDP (its update in two processes is
    one process's on the whole batch: tests/test_ppo.py), saved with each checkpoint."""
    from safetensors.torch import load_file

    runs_dir = zero2_sft
    parent = runs_dir / "zero2" / "sft"
    launch("rlvr", [f"runs_dir={runs_dir}", "run_name=zero2-ppo", f"rlvr.parent={parent}", *PPO, "rlvr.save_steps=2"])
    manifest = json.loads((runs_dir / "zero2-ppo" / "rlvr" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["launch"]["num_processes"] == 2
    assert manifest["metrics"]["global_step"] == 2
    for key in ("ppo/value_loss", "ppo/kl", "ppo/value_mean"):
        assert torch.isfinite(torch.tensor(manifest["metrics"][key])), key
    saved = runs_dir / "zero2-ppo" / "work" / "rlvr" / "checkpoint-2" / "value_model"
    weights = load_file(saved / "model.safetensors")
    assert "score.weight" in weights and (saved / "optimizer.pt").exists()


@pytest.mark.slow
def test_two_process_zero3_ppo_partitions_its_value_model_and_a_resumed_run_continues_it(zero2_sft):
    """`rlvr=ppo` in 2 processes under ZeRO-3: the value model is a DeepSpeed engine partitioned over them (each
    checkpoint holds one partition per process), trained, and a run resumed from step 1 has the same value model at
    step 2 as the run that went on."""
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    runs_dir = zero2_sft

    def run(name, resume=None):
        launch(
            "rlvr",
            [
                f"runs_dir={runs_dir}",
                f"run_name={name}",
                f"rlvr.parent={runs_dir / 'zero2' / 'sft'}",
                *PPO,
                "rlvr.save_steps=1",
                *([f"resume={resume}"] if resume else []),
            ],
            ds="zero3",
        )
        manifest = json.loads((runs_dir / name / "rlvr" / "manifest.json").read_text())
        assert manifest["status"] == "complete" and manifest["metrics"]["global_step"] == 2
        assert manifest["launch"]["deepspeed_config"] == "conf/deepspeed/zero3.json"
        for key in ("ppo/value_loss", "ppo/kl", "ppo/value_mean"):
            assert torch.isfinite(torch.tensor(manifest["metrics"][key])), key
        return runs_dir / name / "work" / "rlvr"

    def value_weights(checkpoint):
        return get_fp32_state_dict_from_zero_checkpoint(str(checkpoint / "value_model"), tag="value_model")

    def largest_difference(first, second):
        return max((first[key] - second[key]).abs().max().item() for key in first)

    whole = run("zero3-ppo")
    partitions = sorted(p.name for p in (whole / "checkpoint-2" / "value_model" / "value_model").glob("*optim_states*"))
    assert len(partitions) == 2 and "zero_pp_rank_1" in partitions[1]
    step1, step2 = value_weights(whole / "checkpoint-1"), value_weights(whole / "checkpoint-2")
    assert "score.weight" in step2 and largest_difference(step1, step2) > 1e-4  # step 2 trained it
    resumed = run("zero3-ppo-resumed", resume=whole / "checkpoint-1")
    assert largest_difference(value_weights(resumed / "checkpoint-2"), step2) < 1e-5


def test_make_pipeline_under_nproc_or_ds_launches_each_stage_then_evaluates_in_one_process():
    plan = subprocess.run(
        ["make", "-s", "-n", "pipeline", "NPROC=2", "DS=zero2", "ARGS=run_name=x"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "accelerate launch --num_processes 2" in plan and "stages.$stage run_name=x" in plan
    assert "-m eval.run run_name=x" in plan and "-m eval.report run_name=x" in plan
    assert "stages.pipeline" not in plan
    single = subprocess.run(["make", "-s", "-n", "pipeline"], cwd=REPO_ROOT, capture_output=True, text=True).stdout
    assert "-m stages.pipeline" in single and "accelerate" not in single
