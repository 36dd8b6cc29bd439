"""The published recipes' arithmetic: each preset gives SFT and DPO the effective batch its header documents for the
process count it is written for, and one seed. A preset edited without its comment fails here."""

from __future__ import annotations

import pytest
from helpers import compose

from runtime import training

# (preset, NPROC its header documents, the effective batch of Tülu 3's SFT and DPO: 128 in both, Lambert et al. 2024
# and open-instruct's scripts/train/finetune/tulu_finetune_mix.sh)
PRESETS = [("tulu3_8b", 8, 128), ("qwen2_5_0_5b", 1, 128)]


@pytest.mark.parametrize("preset, processes, effective_batch", PRESETS)
@pytest.mark.parametrize("stage", ["sft", "dpo"])
def test_preset_gives_the_documented_effective_batch_on_its_documented_process_count(
    preset, processes, effective_batch, stage, tmp_path
):
    cfg = compose([f"+experiment={preset}", "logging=none", f"runs_dir={tmp_path}"])
    _, args = training.trainer_args(cfg, stage)  # what the trainer is handed
    assert args.per_device_train_batch_size * args.gradient_accumulation_steps * processes == effective_batch


def test_tulu3_8b_trains_sft_and_dpo_with_the_seed_of_its_sft_command(tmp_path):
    cfg = compose(["+experiment=tulu3_8b", "logging=none", f"runs_dir={tmp_path}"])
    for stage in ("sft", "dpo"):
        assert training.trainer_args(cfg, stage)[1].seed == 123  # docs/tulu3.md: --seed 123


@pytest.mark.parametrize(
    "preset",
    [[], ["+experiment=smollm2_cpu"], ["+experiment=smollm2_gpu"]],
    ids=["default", "smollm2_cpu", "smollm2_gpu"],
)
def test_the_validation_set_stays_out_of_rlvr_training(preset):
    from data.generate import family_of, problem_key
    from data.loading import load_rlvr
    from eval.benchmarks import load_benchmark
    from runtime import config as config_schema

    cfg = compose([*preset, "logging=none"])
    config_schema.validate(cfg)
    training = load_rlvr(cfg.data.rlvr)
    [validation] = compose([*preset, "eval=validation"]).eval.benchmarks
    held = load_benchmark(validation)
    assert len(training) > 900 and len(held) == 900

    def keys(prompts):
        return {problem_key(family_of(prompt), prompt) for prompt in prompts}

    # by problem, in any wording: the embedded RLVR prompts repeat a few wordings
    assert not keys(row["prompt"][-1]["content"] for row in training) & keys(
        row["messages"][-1]["content"] for row in held
    )
    # and the last 150 RLVR prompts, the slice the presets were tuned on, stay out of training: what a preset trains
    # on is the rest, or the rows of its families among the rest
    rest = load_rlvr([{"path": "embedded:rlvr_train", "split": "train[:-150]"}])
    families = set(training["dataset"])
    assert list(training) == [row for row in rest if row["dataset"] in families]


def test_smollm2_cpu_trains_smollm2_with_its_training_template():
    cfg = compose(["+experiment=smollm2_cpu", "logging=none"])
    assert cfg.model.name == "smollm2_135m" and cfg.model.training_chat_template == "smollm2.jinja"


def test_smollm2_cpu_scores_gsm8k_and_ifeval_on_all_their_prompts_and_math_on_100_and_validation_stays_whole():
    from eval.benchmarks import load_benchmark

    cfg = compose(["+experiment=smollm2_cpu", "logging=none"])
    sizes = {bench.name: len(load_benchmark(bench, cfg.eval.max_rows)) for bench in cfg.eval.benchmarks}
    assert sizes == {"gsm8k": 300, "math": 100, "ifeval": 300}
    [validation] = compose(["+experiment=smollm2_cpu", "eval=validation"]).eval.benchmarks
    assert len(load_benchmark(validation)) == 900
    gpu = compose(["+experiment=smollm2_gpu", "logging=none"])
    assert {bench.name: len(load_benchmark(bench, gpu.eval.max_rows)) for bench in gpu.eval.benchmarks} == {
        "gsm8k": 300,
        "math": 300,
        "ifeval": 300,
    }


def test_smollm2_gpu_trains_sft_and_dpo_as_smollm2_cpu_and_rlvr_200_steps_of_16_prompts_by_8(tmp_path):
    gpu, cpu = (
        compose([f"+experiment={p}", "logging=none", f"runs_dir={tmp_path}"]) for p in ("smollm2_gpu", "smollm2_cpu")
    )
    same = ("learning_rate", "per_device_train_batch_size", "max_steps", "num_train_epochs", "max_length", "seed")
    for stage in ("sft", "dpo"):
        gpu_args, cpu_args = training.trainer_args(gpu, stage)[1], training.trainer_args(cpu, stage)[1]
        assert {key: getattr(gpu_args, key) for key in same} == {key: getattr(cpu_args, key) for key in same}
    _, rlvr = training.trainer_args(gpu, "rlvr")
    assert (rlvr.max_steps, rlvr.per_device_train_batch_size // rlvr.num_generations, rlvr.num_generations) == (
        200,
        16,
        8,
    )
    assert gpu.eval.max_rows is None and gpu.model.name == "smollm2_135m"


def test_tulu3_8b_reward_model_runs_with_the_values_of_open_instructs_script(tmp_path):
    cfg = compose(["+experiment=tulu3_8b", "logging=none", f"runs_dir={tmp_path}"])
    options, args = training.trainer_args(cfg, "rm")
    # scripts/train/tulu3/reward_modeling_8b.sh: lr 3e-6 linear, 1 epoch, 4 x 4 per device, length 4096, seed 8
    assert (args.learning_rate, args.num_train_epochs, args.max_length, args.seed) == (3e-6, 1, 4096, 8)
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (4, 4)
    assert options.parent == "sft" and args.center_rewards_coefficient is None


def readme_gpu_commands() -> list[tuple[str, int, list[str], list[str]]]:
    """(the command, processes it runs, the stages it trains, its Hydra overrides) for each training command of the
    README's GPU block: `make ... NPROC=N ARGS="..."` and `sbatch --nodes=N ... <stage> overrides` (8 GPUs a node,
    the script's GPUS_PER_NODE)."""
    import re
    import shlex

    from helpers import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("**On GPU nodes**:", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        words = shlex.split(line.split("  #")[0])
        if words[:1] == ["sbatch"]:
            nodes = int(re.search(r"--nodes=(\d+)", line).group(1))
            script = next(i for i, word in enumerate(words) if word.endswith(".sbatch"))
            commands.append((line, nodes * 8, [words[script + 1]], words[script + 2 :]))
        elif words[:1] == ["make"] and words[1] in ("pipeline", "sft", "dpo"):
            settings = dict(word.split("=", 1) for word in words[2:] if "=" in word)
            stages = ["sft", "dpo"] if words[1] == "pipeline" else [words[1]]
            commands.append((line, int(settings.get("NPROC", 1)), stages, shlex.split(settings.get("ARGS", ""))))
    return commands


def test_every_gpu_command_of_the_readme_trains_with_tulus_effective_batch(tmp_path):
    commands = readme_gpu_commands()
    assert any(line.startswith("sbatch") for line, *_ in commands) and len(commands) >= 3
    for line, processes, stages, overrides in commands:
        assert any(o.startswith("+experiment=") for o in overrides), f"{line}: use a preset"
        cfg = compose([*overrides, "logging=none", f"runs_dir={tmp_path}"])
        for stage in stages:
            _, args = training.trainer_args(cfg, stage)
            batch = args.per_device_train_batch_size * args.gradient_accumulation_steps * processes
            assert batch == 128, f"{line}: {stage}'s effective batch is {batch}"
