"""Shared fixtures: the offline environment, and a small trained SFT checkpoint the later stages' tests build on.

Every test runs offline and on the CPU; training fixtures are session-scoped so each tiny run happens once."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from helpers import compose

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "disabled")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two workers on two cores: one thread each (and in the processes they start), or their threads stall each other.
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)

# Each sandbox's account (start-up and code times, how it ended) goes to the captured log a failing test prints.
logging.getLogger("rewards.sandbox").setLevel(logging.DEBUG)

# A few SFT steps on a slice of the embedded data: enough to check mechanics, seconds on 2 cores.
QUICK_SFT = [
    "logging=none",
    "sft.max_steps=12",
    "sft.per_device_train_batch_size=16",
    "sft.logging_steps=2",
    "data.sft=[{path: 'embedded:sft_train', max_rows: 400}]",
]


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def sft_run(runs_dir):
    """A tiny SFT run shared by the tests of later stages: returns its composed config (run_name=shared)."""
    from stages import sft

    cfg = compose([f"runs_dir={runs_dir}", "run_name=shared", *QUICK_SFT])
    sft.run(cfg)
    return cfg
