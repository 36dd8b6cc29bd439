"""What several test files use: the repository's paths and the config a stage would see for a command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = REPO_ROOT / "conf"
EMBEDDED_DIR = REPO_ROOT / "data" / "embedded"

# `make test-timing` sets it: the tests marked `timing` run there again, one at a time on an idle machine
STRICT_DEADLINES = os.environ.get("STRICT_DEADLINES") == "1"


def embedded_rows(name: str) -> list[dict]:
    """The rows of the embedded data file `data/embedded/<name>.jsonl`."""
    return [json.loads(line) for line in (EMBEDDED_DIR / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


def assert_within(seconds: float, deadline_s: float) -> None:
    """A wall-clock deadline (a hang cut short, a kill in time), for tests marked `timing`. Exact where `make
    test-timing` runs them alone; ten times looser in `make test`, whose parallel workers a loaded machine slows but
    where a hang (an attack's `sleep(3600)`, a pool that waits on the sandbox's 30 s) still fails."""
    limit = deadline_s if STRICT_DEADLINES else 10 * deadline_s
    assert seconds < limit, f"took {seconds:.1f} s: the deadline is {limit:g} s"


def compose(overrides: list[str] | None = None):
    """The config a stage would see for `python -m stages.X <overrides>` (validated by Hydra's schema)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import runtime.config  # noqa: F401  (registers the schema)

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return hydra_compose("config", overrides=list(overrides or []))


# A few GRPO steps of 8 completions (2 prompts x 4) cut at 24 tokens: the mechanics of an RL run, seconds on 2 cores.
# Without the default's dynamic sampling: a barely trained model gets one reward for a whole group, and every step
# would generate three times (tests/test_rl_sampling.py tests it; test_pipeline runs the default with it).
QUICK_RLVR = [
    "logging=none",
    "rlvr.dynamic_sampling=false",
    "rlvr.max_steps=2",
    "rlvr.logging_steps=1",
    "rlvr.per_device_train_batch_size=8",
    "rlvr.num_generations=4",
    "rlvr.max_completion_length=24",
    "rlvr.log_completions=false",
]
