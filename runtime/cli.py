"""The command line: `python -m stages.<name> key=value ...` is a Hydra entry point that validates the
whole config before any work; under `-m` (a Hydra multirun sweep) each job becomes a run of its own.

A stage module run as a command calls `check_command_line()` first, before it imports torch and TRL (5-8 s): the
config is composed from the command line and our options are checked (`config.check_options`), so a typo fails in
about a second. Then `stage_main` composes it again through Hydra and checks everything (`config.validate`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import hydra
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from runtime import config, devices
from runtime.layout import REPO_ROOT, seed_run_name, stage_dir


def stage_main(
    run: Callable[[DictConfig], Any], over_seeds: Callable[[DictConfig], Any] | None = None
) -> Callable[[], Any]:
    """Wrap a stage's `run(cfg)` as a Hydra entry point that validates every section before any work.

    Under `-m` (a Hydra multirun sweep, e.g. `python -m stages.dpo -m dpo.beta=0.1,0.5`) each job is its own run
    (see `name_sweep_job`), so `make compare` can put the sweep points side by side. With `seeds=[42,2,7]` it runs
    once per seed as run <run_name>-s<seed> with seed=<seed>, then `over_seeds(cfg)` (the seeds report)."""

    @hydra.main(version_base=None, config_path=str(REPO_ROOT / "conf"), config_name="config")
    def main(cfg: DictConfig) -> Any:
        from data.loading import DataError  # datasets loads with it: not before the config is checked

        name_sweep_job(cfg)
        try:
            config.validate(cfg)
        except config.ConfigError as error:
            sys.exit(f"config error: {error}")
        devices.preflight()  # GPUs torch cannot use: one line, before any work
        devices.apply_hub_kernels_policy(cfg)
        try:
            if not cfg.seeds:
                return run(cfg)
            results = {seed: run(seed_config(cfg, seed)) for seed in cfg.seeds}
            if over_seeds is not None:
                over_seeds(cfg)
            return results
        except DataError as error:  # one line naming the file and line: no traceback through datasets' internals
            sys.exit(f"data error: {error}")

    return main


def check_command_line() -> None:
    """Compose the config from this command's `key=value` arguments and check our options, exiting with one line
    (`config error: ...`) on the first fault. A command line with Hydra's own flags (`--cfg`, `-m`, `--help`) or
    settings (`hydra...`) is left to Hydra, and so is all that needs TRL or transformers to judge: `stage_main`."""
    from hydra import compose, initialize_config_dir

    arguments = sys.argv[1:]
    if any(argument.startswith(("-", "hydra", "+hydra", "~hydra")) for argument in arguments):
        return
    try:
        with initialize_config_dir(version_base=None, config_dir=str(REPO_ROOT / "conf")):
            cfg = compose("config", overrides=arguments)
        config.check_options(cfg)
    except (HydraException, OmegaConfBaseException, config.ConfigError) as error:
        sys.exit(f"config error: {_one_line(error)}")


def _one_line(error: Exception) -> str:
    """Hydra's message and the cause it wraps ("Could not override 'sft.lerning_rate'." and "Key 'lerning_rate' not
    in 'SFTSection'"), on one line, with the closest key of the section for one it lacks."""
    parts = [str(error).splitlines()[0]]
    cause = error.__cause__
    if cause is not None and str(cause):
        parts.append(str(cause).splitlines()[0])
    if isinstance(cause, ConfigAttributeError | ConfigKeyError) and getattr(cause, "full_key", None):
        parts[-1] += config.closest_key(cause.full_key)
    return " ".join(parts)


def seed_config(cfg: DictConfig, seed: int) -> DictConfig:
    """The config of one seed's run: seed=<seed> (every section's seed follows it unless set), run <run_name>-s<seed>;
    parents named by stage are that run's own."""
    one = cfg.copy()
    one.seed = seed
    one.run_name = seed_run_name(cfg.run_name, seed)
    one.seeds = []
    return one


# Keys that say where or how a run is kept, not what it trains: left out of a sweep job's run name.
SWEEP_NAME_IGNORED = ("run_name", "runs_dir", "overwrite", "resume", "logging", "hydra")


def name_sweep_job(cfg: DictConfig) -> None:
    """In a Hydra multirun job, make the job its own run: run_name=<run_name>-<the job's values of the swept keys>,
    e.g. `default-dpo.beta:0.5` (`key:value`, several joined by `-`). The name is a plain Hydra value, without `=`
    or `,`, so `make eval ARGS="run_name=default-dpo.beta:0.5"` can name it. Parents named by stage ("sft"), and the
    reward model named "rm", still mean the original run's checkpoints."""
    import re

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    for stage in config.SECTIONS:
        if cfg[stage].parent in config.STAGE_ORDER[1:]:
            cfg[stage].parent = str(stage_dir(cfg, cfg[stage].parent))
    if cfg.rlvr.reward_model == "rm":
        cfg.rlvr.reward_model = str(stage_dir(cfg, "rm"))
    overrides = [o for o in hydra_cfg.overrides.task if not o.lstrip("+~").startswith(SWEEP_NAME_IGNORED)]
    swept = swept_keys()
    named = [o for o in overrides if o.lstrip("+~").split("=")[0] in swept] or overrides
    pairs = ["{}:{}".format(*override.lstrip("+~").split("=", 1)) for override in named if "=" in override]
    suffix = re.sub(r"[^A-Za-z0-9._:+-]+", "_", "-".join(pairs)) or f"job{hydra_cfg.job.num}"
    cfg.run_name = f"{cfg.run_name}-{suffix}"


def swept_keys() -> set[str]:
    """The keys a multirun command line sweeps (`dpo.beta=0.1,0.5`, `range(...)`, `choice(...)`)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    arguments = [a for a in sys.argv[1:] if "=" in a and not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(arguments)
    except HydraException:
        return set()
    return {o.key_or_group for o in overrides if o.is_sweep_override()}
