"""What several test files use: the repository's paths and the config a stage would see for a command line."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = REPO_ROOT / "conf"


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
