"""The config tree: every file composes and validates against TRL's config classes; mistakes fail early, by name."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import CONF_DIR, REPO_ROOT, assert_within, compose
from hydra.errors import ConfigCompositionException

from runtime import config

GROUPS = ["model", "data", "sft", "dpo", "rlvr", "eval", "logging"]
GROUP_OPTIONS = [(group, path.stem) for group in GROUPS for path in sorted((CONF_DIR / group).glob("*.yaml"))]
EXPERIMENTS = sorted(path.stem for path in (CONF_DIR / "experiment").glob("*.yaml"))


def _all_messages(error: BaseException) -> str:
    """Hydra wraps OmegaConf's error; the key name is in the chain."""
    parts = []
    while error is not None:
        parts.append(str(error))
        error = error.__cause__ or error.__context__
    return "\n".join(parts)


@pytest.mark.parametrize("group,option", GROUP_OPTIONS, ids=[f"{g}={o}" for g, o in GROUP_OPTIONS])
def test_every_group_option_composes_and_validates(group, option):
    cfg = compose([f"{group}={option}"])
    config.validate(cfg)  # includes constructing the TRL config class of every trainer section
    assert cfg[group] is not None


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_validates(experiment):
    cfg = compose([f"+experiment={experiment}"])
    config.validate(cfg)


def test_the_real_model_configs_name_hub_ids_without_loading_anything():
    real = [o for g, o in GROUP_OPTIONS if g == "model" and o != "tiny"]
    assert real, "conf/model/ should hold real models besides the embedded default"
    for option in real:
        cfg = compose([f"model={option}"])
        assert cfg.model.path != "embedded:tiny"


def test_trainer_fields_pass_through_to_trl_by_their_own_names():
    cfg = compose(["sft.max_grad_norm=0.25", "sft.learning_rate=1e-5", "dpo.beta=0.5"])
    _, sft_kwargs = config.split_section("sft", cfg.sft)
    _, dpo_kwargs = config.split_section("dpo", cfg.dpo)
    assert sft_kwargs["max_grad_norm"] == 0.25 and sft_kwargs["learning_rate"] == 1e-5
    assert dpo_kwargs["beta"] == 0.5


@pytest.mark.parametrize(
    "override,key",
    [
        ("sft.lerning_rate=1e-5", "lerning_rate"),
        ("sft.max_steps=abc", "max_steps"),
        ("model.nme=x", "nme"),
        ("seed=abc", "seed"),
        ("sft.output_dir=/tmp/x", "output_dir"),  # owned by the pipeline: not in the schema at all
    ],
)
def test_typos_and_wrong_types_fail_at_composition_naming_the_key(override, key):
    with pytest.raises(ConfigCompositionException) as caught:
        compose([override])
    assert key in _all_messages(caught.value)


def test_unknown_key_in_a_plain_section_suggests_the_spelling():
    with pytest.raises(config.ConfigError, match=r"sft\.lerning_rate.*Did you mean: learning_rate"):
        config.split_section("sft", {"lerning_rate": 1e-5})
    with pytest.raises(config.ConfigError, match=r"sft\.learning_rate='fast': expected float"):
        config.split_section("sft", {"learning_rate": "fast"})
    with pytest.raises(config.ConfigError, match="set by the pipeline"):
        config.split_section("sft", {"output_dir": "x"})


def test_values_trl_rejects_fail_validation_with_the_stage_named():
    cfg = compose(["sft.lr_scheduler_type=warp_speed"])
    with pytest.raises(config.ConfigError, match="sft: trl.SFTConfig rejects"):
        config.validate(cfg)


def test_rlvr_keys_of_the_other_trainer_must_keep_their_defaults():
    cfg = compose(["rlvr.trainer=rloo"])
    config.validate(cfg)
    section = dict(config.split_section("rlvr", cfg.rlvr)[1])
    assert "loss_type" not in section  # a GRPO-only field, left at its default, is not handed to RLOOConfig
    with pytest.raises(config.ConfigError, match="not an option of this stage nor a field of trl.RLOOConfig"):
        config.validate(compose(["rlvr.trainer=rloo", "rlvr.loss_type=grpo"]))


def _run_stage(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stages.sft", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_rejects_a_typo_before_any_work(tmp_path):
    result = _run_stage(f"runs_dir={tmp_path}", "sft.lerning_rate=1", cwd=tmp_path)
    assert result.returncode != 0
    assert "lerning_rate" in result.stderr
    assert not any(tmp_path.iterdir()), "nothing may be written before the config is valid"


def test_cli_cfg_job_prints_the_resolved_config(tmp_path):
    result = _run_stage("--cfg", "job", "sft.learning_rate=0.125", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "learning_rate: 0.125" in result.stdout
    assert "run_name: default" in result.stdout


# ----------------------------------------------------------------------------------------------------------------
# Our own options, checked with the rest before any work, for every stage whatever the command runs


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["dpo.pairs=onpolicyy"],
            "dpo.pairs='onpolicyy': expected one of offline, onpolicy, judge (did you mean onpolicy?)",
        ),
        (
            ["judge.backend=endpont"],
            "judge.backend='endpont': expected one of local, endpoint (did you mean endpoint?)",
        ),
        (["judge.mode=pairs"], "judge.mode='pairs': expected one of pairwise, pointwise (did you mean pairwise?)"),
        (["judge=endpoint", "judge.model=m", "judge.base_url=localhost:8000"], "judge.base_url='localhost:8000': an"),
        (["model.attn_implementation=flash_atention_2"], "(did you mean flash_attention_2?)"),
        (["model.dtype=bf16"], "model.dtype='bf16': expected one of auto, float32, bfloat16, float16"),
        (["rlvr.parent=dpoo"], "rlvr.parent='dpoo': expected one of base, sft, dpo"),
        (["sft.parent=dpo"], "sft.parent='dpo': expected one of base (an earlier stage"),
        (
            ["rlvr.heldout_benchmarks=[gsm8k,nope]"],
            "rlvr.heldout_benchmarks='nope': expected one of gsm8k, math, ifeval",
        ),
        (["rlvr.trainer=pp"], "rlvr.trainer='pp': expected one of grpo, rloo, ppo"),
        (["eval.stages=[base,sftt]"], "eval.stages='sftt': expected one of base, sft, dpo, rlvr"),
        (
            ["eval.decontamination.action=warning"],
            "eval.decontamination.action='warning': expected one of error, warn, off",
        ),
        (["eval.benchmarks.0.format=gsm9k"], "eval.benchmarks[gsm8k].format='gsm9k'"),
        (["eval.sampled_pass1=-4"], "eval.sampled_pass1=-4: expected 0 (off) or a number of samples"),
        (["sft.max_length=96"], "sft.padding_free=true with sft.max_length=96"),
        (["dpo.onpolicy_models=[base]"], "the pool samples beside the parent, so it needs dpo.pairs=onpolicy or"),
        (["dpo.pairs=onpolicy", "dpo.onpolicy_models=[sfft]"], "dpo.onpolicy_models[0]='sfft': expected one of base,"),
        (["dpo.pairs=judge", "dpo.onpolicy_models=[base,sft]"], "dpo.onpolicy_models[1]='sft': already the parent"),
        (["dpo.pairs=onpolicy", "dpo.onpolicy_models=[base,base]"], "dpo.onpolicy_models[1]='base': named twice"),
        (["model.tiny.tokenizer_corpus=data/embedded/sft_trian.jsonl"], "tokenizer_corpus='data/embedded/sft_trian"),
    ],
)
def test_our_own_options_are_validated_naming_the_key_and_the_allowed_values(overrides, message):
    with pytest.raises(config.ConfigError) as caught:
        config.validate(compose(overrides))
    assert message in str(caught.value)


def test_a_parent_given_as_a_path_is_left_to_the_stage_and_an_existing_directory_is_accepted(tmp_path):
    config.validate(compose([f"dpo.parent={tmp_path}", "rlvr.parent=runs/elsewhere/dpo"]))


def test_the_top_level_seed_flows_into_each_section_unless_the_section_sets_its_own():
    cfg = compose(["seed=2", "sft.seed=42"])
    assert (cfg.sft.seed, cfg.dpo.seed, cfg.rlvr.seed) == (42, 2, 2)
    assert config.split_section("dpo", cfg.dpo)[1]["seed"] == 2


@pytest.mark.timing
def test_pipeline_with_a_typo_in_a_later_stage_fails_in_seconds_before_any_work(tmp_path):
    started = time.time()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stages.pipeline",
            f"runs_dir={tmp_path}",
            "logging=none",
            "dpo.pairs=onpolicyy",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "config error: dpo.pairs='onpolicyy': expected one of offline, onpolicy" in result.stderr
    assert_within(time.time() - started, 60)
    assert not any(tmp_path.iterdir()), "nothing written, not even Hydra's log of the command"


def imported_modules(stderr: str) -> set[str]:
    """The modules a `python -X importtime` run imported, from its report on stderr."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("module", ["stages.sft", "stages.pipeline", "eval.run"])
def test_a_typo_fails_before_torch_or_trl_is_imported(tmp_path, module, monkeypatch):
    """Importing a stage's libraries takes 5-8 s; a typo is rejected before them (runtime.cli.check_command_line),
    with the closest key named, and the full check with TRL still runs for a command that passes (stage_main)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    config.trl_fields()  # what the first command on a machine does once: read TRL's fields and cache them
    runs = tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", module, f"runs_dir={runs}", "sft.lerning_rate=1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "config error: Could not override 'sft.lerning_rate'. Key 'lerning_rate' not in 'SFTSection' "
        "(did you mean learning_rate?)"
    )
    imported = imported_modules(result.stderr)
    assert "runtime.config" in imported and not imported & {"torch", "trl", "transformers", "datasets"}
    assert not runs.exists()


def test_the_schema_reads_trls_fields_from_a_cache_per_version_and_rebuilds_a_broken_one(tmp_path, monkeypatch):
    from importlib import metadata

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    built = config._trl_field_table()
    assert config.trl_fields() == built
    [cached] = (tmp_path / "tulu-pipeline").glob("trl-fields-*.json")
    assert cached.name == f"trl-fields-{metadata.version('trl')}-{metadata.version('transformers')}.json"
    assert json.loads(cached.read_text()) == built
    cached.write_text('{"SFTConfig": [')  # cut short
    assert config.trl_fields() == built
    assert json.loads(cached.read_text()) == built


def test_an_unknown_experiment_preset_fails_at_composition():
    with pytest.raises(ConfigCompositionException, match="experiment/nope"):
        compose(["+experiment=nope"])
