"""`make multinode-check`: SFT -> the reward model -> DPO -> RLVR on two "nodes" of one process each, on this CPU
machine, through the real conf/launch/slurm_multinode.sbatch under DeepSpeed ZeRO-3 (gloo), with SLURM's `srun` and
`scontrol` replaced by the stand-ins beside this file, which start every node on 127.0.0.1.

Not collected by `make test` (its name is not test_*.py): two-process launches of every stage take ~2-3 minutes on
2 cores; CI runs it as its own target after `make test` (.ci/run)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
from helpers import REPO_ROOT

STUBS = Path(__file__).resolve().parent
STAGE_ARGS = {
    "sft": [
        "sft.max_steps=3",
        "sft.logging_steps=1",
        "sft.per_device_train_batch_size=8",
        "data.sft=[{path: 'embedded:sft_train', max_rows: 96}]",
    ],
    "rm": [
        "rm.max_steps=3",
        "rm.logging_steps=1",
        "rm.per_device_train_batch_size=4",
        "data.preference.0.max_rows=64",
    ],
    "dpo": [
        "dpo.max_steps=3",
        "dpo.logging_steps=1",
        "dpo.pairs=offline",
        "dpo.per_device_train_batch_size=4",
        "data.preference.0.max_rows=32",
    ],
    "rlvr": [
        "rlvr.max_steps=2",
        "rlvr.logging_steps=1",
        "rlvr.per_device_train_batch_size=4",
        "rlvr.num_generations=4",
        "rlvr.max_completion_length=16",
        "rlvr.log_completions=false",
    ],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sbatch(stage: str, runs_dir: Path, logs: Path, *extra: str) -> list[str]:
    """The job script as SLURM would run it on a 2-node allocation; returns each node's log."""
    logs.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PATH": f"{STUBS}:{os.environ['PATH']}",
        "SLURM_NNODES": "2",
        "SLURM_JOB_NODELIST": "node[0-1]",
        "SLURM_SUBMIT_DIR": str(REPO_ROOT),
        "GPUS_PER_NODE": "1",
        "DS": "zero3",
        "MIXED_PRECISION": "no",
        "MAIN_PORT": str(free_port()),
        "MULTINODE_LOG_DIR": str(logs),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "WANDB_MODE": "offline",
        "OMP_NUM_THREADS": "1",
    }
    command = ["bash", "conf/launch/slurm_multinode.sbatch", stage, f"runs_dir={runs_dir}", "run_name=multinode"]
    result = subprocess.run(
        [*command, "logging=wandb", *STAGE_ARGS[stage], *extra],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    node_logs = [(logs / f"node{node}.log").read_text() for node in range(2)]
    assert result.returncode == 0, result.stderr[-2000:] + node_logs[0][-4000:] + node_logs[1][-4000:]
    return node_logs


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("runs")
    logs = {stage: sbatch(stage, runs_dir, runs_dir / "logs" / stage) for stage in ("sft", "rm", "dpo", "rlvr")}
    return runs_dir, logs


def manifest(runs_dir: Path, stage: str) -> dict:
    return json.loads((runs_dir / "multinode" / stage / "manifest.json").read_text())


@pytest.mark.parametrize("stage", ["sft", "rm", "dpo", "rlvr"])
def test_each_stage_trains_on_two_nodes_under_zero3_and_publishes_one_complete_checkpoint(chain, stage):
    runs_dir, _ = chain
    record = manifest(runs_dir, stage)
    assert record["status"] == "complete"
    assert record["launch"]["num_processes"] == 2
    assert record["launch"]["deepspeed_config"] == "conf/deepspeed/zero3.json"
    assert record["metrics"]["deepspeed"] is True and record["metrics"]["global_step"] > 0
    assert (runs_dir / "multinode" / stage / "model.safetensors").exists()
    assert not list((runs_dir / "multinode").glob(f".{stage}*"))  # no staging copy left by either rank
    parent = {"sft": None, "rm": "sft", "dpo": "sft", "rlvr": "dpo"}[stage]
    if parent:
        assert record["parent_id"] == manifest(runs_dir, parent)["id"]


def test_the_reward_model_measures_its_accuracy_once_the_zero3_engine_holds_the_weights(chain):
    runs_dir, _ = chain
    metrics = manifest(runs_dir, "rm")["metrics"]
    assert 0 <= metrics["heldout_pairwise_accuracy_before"] <= 1 and 0 <= metrics["heldout_pairwise_accuracy"] <= 1


def test_dynamic_sampling_refills_in_step_on_both_nodes(chain):
    """The default's dynamic sampling under two processes: each filters its own groups and both refill as often (a
    process that generated alone would hang the other in TRL's gathers)."""
    runs_dir, _ = chain
    totals = manifest(runs_dir, "rlvr")["metrics"]["dynamic_sampling"]
    assert totals["batches"] == 2 and totals["groups"] == 2 and totals["extra_generations"] > 0


def test_only_the_main_process_opens_a_wandb_run(chain):
    runs_dir, _ = chain
    runs = sorted((runs_dir / "multinode" / "wandb").rglob("offline-run-*"))
    assert len(runs) == 4  # one per stage, none from the second node (this test runs before the DPO re-run below)


def test_the_dpo_reference_cache_is_keyed_by_the_sft_checkpoint_and_hit_by_every_rank(chain):
    runs_dir, logs = chain
    [entry] = (runs_dir / "_cache" / "ref_logps").iterdir()
    assert json.loads((entry / "key.json").read_text())["reference_weights"] == manifest(runs_dir, "sft")["id"]
    assert all("cache miss" in log for log in logs["dpo"])
    first_loss = manifest(runs_dir, "dpo")["metrics"]["train_loss"]
    again = sbatch("dpo", runs_dir, runs_dir / "logs" / "dpo-again", "overwrite=true")
    assert all("cache hit, " in log and str(entry) in log for log in again)
    # the same reference log-probs from the cache as computed: the same training
    assert manifest(runs_dir, "dpo")["metrics"]["train_loss"] == pytest.approx(first_loss, abs=1e-4)
