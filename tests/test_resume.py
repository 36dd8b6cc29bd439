"""Resume and safety of outputs: a stage killed with SIGKILL after a periodic save continues from that step when the
same command is run again; incomplete checkpoints are never mistaken for complete ones."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO_ROOT, compose
from transformers.trainer_utils import get_last_checkpoint

from runtime import checkpoints, layout, models, training

ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "WANDB_MODE": "disabled",
    "TOKENIZERS_PARALLELISM": "false",
}
MAX_STEPS = 30  # long enough (seconds) that the kill lands mid-run


def sft_command(runs_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "stages.sft",
        f"runs_dir={runs_dir}",
        "run_name=killed",
        "logging=none",
        f"sft.max_steps={MAX_STEPS}",
        "sft.per_device_train_batch_size=4",
        "sft.logging_steps=2",
        "data.sft=[{path: 'embedded:sft_train', max_rows: 400}]",
        "sft.save_strategy=steps",
        "sft.save_steps=3",
        "sft.save_total_limit=2",
    ]


@pytest.mark.slow
def test_sigkill_after_a_save_resumes_from_that_step(tmp_path):
    work = tmp_path / "killed" / "work" / "sft"
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(sft_command(tmp_path), cwd=REPO_ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while training.latest_checkpoint(work) is None:
        assert first.poll() is None, (
            f"the run ended before its first save:\n{(tmp_path / 'first.log').read_text()[-3000:]}"
        )
        assert time.time() < deadline, "no checkpoint within 300 s"
        time.sleep(0.2)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    saved_step = int(Path(training.latest_checkpoint(work)).name.split("-")[1])
    assert 3 <= saved_step < MAX_STEPS
    assert not (tmp_path / "killed" / "sft").exists()  # nothing published, so nothing looks complete

    second = subprocess.run(sft_command(tmp_path), cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"(step {saved_step})" in second.stdout
    manifest = json.loads((tmp_path / "killed" / "sft" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["metrics"]["resumed_from_step"] == saved_step
    assert manifest["metrics"]["resumed_from"].endswith(f"checkpoint-{saved_step}")
    assert manifest["metrics"]["global_step"] == MAX_STEPS
    # The rerun trained only the remaining steps: its progress bar starts after the saved step, not at step 1.
    # tqdm redraws at most every 0.1 s, so which step counts the bar prints depends on speed; the trainer's loss
    # log (every logging_steps=2) does not: the rerun logs exactly the even steps after the saved one.
    logged_steps = [step for step in range(saved_step + 1, MAX_STEPS + 1) if step % 2 == 0]
    assert len(re.findall(r"'loss': ", second.stdout + second.stderr)) == len(logged_steps)
    assert f"| 1/{MAX_STEPS} [" not in second.stderr
    assert len(list(work.glob("checkpoint-*"))) == 2  # save_total_limit


def test_resume_skips_checkpoints_killed_mid_write_where_transformers_would_not(tmp_path):
    def checkpoint(step: int, state: str | None) -> None:
        path = tmp_path / f"checkpoint-{step}"
        path.mkdir()
        if state is not None:
            (path / "trainer_state.json").write_text(state)

    assert training.latest_checkpoint(tmp_path) is None
    checkpoint(4, json.dumps({"global_step": 4}))
    checkpoint(8, json.dumps({"global_step": 8}))
    checkpoint(12, None)  # killed while writing the weights
    checkpoint(16, '{"global_step": 1')  # killed while writing the state itself
    (tmp_path / "checkpoint-tmp").mkdir()
    assert training.latest_checkpoint(tmp_path) == str(tmp_path / "checkpoint-8")
    # the library's version resumes from the half-written one
    assert get_last_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-16")


def record(cfg, stage: str = "sft") -> checkpoints.StageRecord:
    options, args = training.trainer_args(cfg, stage)
    return checkpoints.StageRecord(cfg, stage, options, args, parent=models.base_model_path(cfg), data_key="sft")


def test_the_config_hash_covers_what_trains_and_not_where_it_is_kept(tmp_path):
    """The hash that decides resuming (work/<stage>/lineage.json) and reusing a checkpoint."""
    base = record(compose([f"runs_dir={tmp_path}", "logging=none"])).config_hash()
    for same in (
        ["resume=never"],
        ["logging=wandb"],
        ["run_name=elsewhere"],
        [f"runs_dir={tmp_path}/other"],
        ["dpo.beta=0.5"],
        ["data.rlvr.0.max_rows=5"],
        ["eval.max_rows=3"],
        ["sft.logging_steps=1"],
        ["sft.save_strategy=steps", "sft.save_steps=7"],
    ):
        assert record(compose([f"runs_dir={tmp_path}", "logging=none", *same])).config_hash() == base, same
    for other in (["sft.learning_rate=1e-4"], ["seed=3"], ["data.sft.0.max_rows=5"], ["model.dtype=float64"]):
        assert record(compose([f"runs_dir={tmp_path}", "logging=none", *other])).config_hash() != base, other


def test_a_crash_while_publishing_leaves_the_previous_checkpoint(tmp_path):
    cfg = compose([f"runs_dir={tmp_path}", "logging=none"])
    model, tokenizer = models.load_model_and_tokenizer(cfg, models.base_model_path(cfg), trainable=False)
    first = record(cfg).publish(model, tokenizer)
    before = (first / "manifest.json").read_text()

    class Crash(Exception):
        pass

    def crash(*args, **kwargs):
        raise Crash

    tokenizer.save_pretrained = crash  # dies half way: weights written, tokenizer and manifest not
    with pytest.raises(Crash):
        record(cfg).publish(model, tokenizer)
    assert (first / "manifest.json").read_text() == before
    assert layout.is_complete(first) and (first / "tokenizer.json").exists()
