"""The device and precision policy (runtime/devices.py), shown on the CPU: trainable weights stay fp32 so that small
updates survive where bf16 weights round them away, inference copies take the compute precision, validation never
starts torch.distributed, and a GPU node torch cannot use is refused in one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch
from helpers import REPO_ROOT, compose
from safetensors.torch import load_file

from runtime import devices, layout, models, training
from stages import dpo

# Tülu 3's DPO learning rate (conf/dpo/tulu3_8b.yaml), 3 steps of 2 pairs: the update of a weight is ~lr, far below
# bf16's resolution (2^-8 of the weight).
TULU_DPO = [
    "logging=none",
    "dpo.pairs=offline",
    "data.preference.0.max_rows=6",
    "dpo.max_steps=3",
    "dpo.per_device_train_batch_size=2",
    "dpo.learning_rate=5e-7",
    "dpo.warmup_steps=0",
    "dpo.max_length=64",
]


@pytest.fixture(scope="module")
def bf16_parent(tmp_path_factory, sft_run):
    """The shared tiny SFT checkpoint saved in bf16, as a bf16 hub model is published."""
    directory = tmp_path_factory.mktemp("bf16_parent")
    model, tokenizer = models.load_model_and_tokenizer(sft_run, layout.stage_dir(sft_run, "sft"), trainable=False)
    model.to(torch.bfloat16).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def changed_share(parent, checkpoint) -> float:
    """The share of the parent's weights the trained checkpoint holds a different value for."""
    before, after = load_file(parent / "model.safetensors"), load_file(checkpoint / "model.safetensors")
    changed = total = 0
    for name, weight in before.items():
        changed += (after[name].float() != weight.float()).sum().item()
        total += weight.numel()
    return changed / total


def run_dpo(runs_dir, run_name, parent):
    cfg = compose(
        [f"runs_dir={runs_dir}", f"run_name={run_name}", f"dpo.parent={parent}", "model.dtype=bfloat16", *TULU_DPO]
    )
    dpo.run(cfg)
    return runs_dir / run_name / "dpo"


def test_dpo_at_tulus_learning_rate_changes_bf16_weights_kept_in_fp32(bf16_parent, tmp_path, monkeypatch):
    checkpoint = run_dpo(tmp_path, "fp32_master", bf16_parent)
    assert changed_share(bf16_parent, checkpoint) > 0.99  # nearly every weight moved
    manifest = (checkpoint / "manifest.json").read_text()
    assert '"model_dtype": "float32"' in manifest and '"device": "cpu"' in manifest

    # The old policy -- trainable weights in the compute precision, updated in place by AdamW -- trains almost
    # nothing: only weights within ~256 x lr of zero (~1% of them) can take a step that small.
    monkeypatch.setattr(devices, "weights_dtype", lambda cfg, trainable: devices.compute_dtype(cfg))
    naive = run_dpo(tmp_path, "bf16_in_place", bf16_parent)
    assert changed_share(bf16_parent, naive) < 0.02


def test_inference_copies_take_the_compute_precision_and_trainable_weights_stay_fp32(sft_run):
    cfg = compose(["model.dtype=bfloat16"])
    assert devices.weights_dtype(cfg, trainable=False) == torch.bfloat16
    assert devices.weights_dtype(cfg, trainable=True) == torch.float32
    assert devices.compute_dtype(compose([])) == torch.float32  # auto on a CPU
    inference, _ = models.load_model_and_tokenizer(cfg, layout.stage_dir(sft_run, "sft"), trainable=False)
    assert inference.dtype == torch.bfloat16 and devices.describe(inference)["device"] == "cpu"


def test_deepspeed_keeps_its_own_master_weights(monkeypatch):
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    assert devices.weights_dtype(compose(["model.dtype=bfloat16"]), trainable=True) == torch.bfloat16


def test_a_cpu_run_computes_in_fp32_whatever_the_section_asks():
    _, args = training.trainer_args(compose(["model.dtype=bfloat16", "sft.bf16=true"]), "sft")
    assert args.bf16 is False and args.use_cpu is True


def test_preflight_refuses_gpus_torch_cannot_use_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    devices.preflight(tmp_path)  # no GPU on the node: nothing to say
    for name in ("nvidia0", "nvidia1", "nvidiactl"):
        (tmp_path / name).touch()
    with pytest.raises(devices.PreflightError) as raised:
        devices.preflight(tmp_path)
    message = str(raised.value)
    assert "2 NVIDIA GPU(s)" in message and "nvidia0, nvidia1" in message and "\n" not in message
    assert "CPU-only build" in message
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # GPUs hidden on purpose: the CPU, as asked
    devices.preflight(tmp_path)


def test_every_stage_command_runs_the_preflight(tmp_path):
    (tmp_path / "nvidia0").touch()
    env = {**os.environ, "TULU_DEVICE_DIR": str(tmp_path), "CUDA_VISIBLE_DEVICES": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "stages.sft", "logging=none", f"runs_dir={tmp_path}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("preflight: 1 NVIDIA GPU(s)")
    assert not list((tmp_path / "default").glob("*sft*"))  # nothing ran (Hydra made only its own log directory)


def offline_hub_lookup(model, **kwargs):
    """transformers' kernelize as it ended offline on an H200: the Hub repo of a CUDA kernel was needed and not cached.
    On a CPU kernelize finds nothing to fetch, so the stand-in raises wherever it is reached."""
    raise ValueError("Version 2 of 'kernels-community/rotary' is not available in the local cache and Hugging Face Hub")


def test_models_load_with_their_torch_layers_unless_hub_kernels_are_asked_for(sft_run, monkeypatch):
    import transformers.modeling_utils as modeling_utils

    monkeypatch.setattr(modeling_utils, "kernelize", offline_hub_lookup)
    monkeypatch.setenv("USE_HUB_KERNELS", "YES")  # restored after the test; transformers' default when unset
    parent = layout.stage_dir(sft_run, "sft")
    with pytest.raises(ValueError, match="kernels-community"):  # the naive load: transformers kernelizes it
        models.load_model_and_tokenizer(sft_run, parent, trainable=True)
    devices.apply_hub_kernels_policy(sft_run)
    model, _ = models.load_model_and_tokenizer(sft_run, parent, trainable=True)
    assert not model.use_kernels
    devices.apply_hub_kernels_policy(compose(["model.hub_kernels=true"]))
    with pytest.raises(ValueError, match="kernels-community"):
        models.load_model_and_tokenizer(sft_run, parent, trainable=True)


def test_every_stage_command_sets_the_hub_kernels_policy_before_any_work():
    code = (
        "import os, sys\n"
        "from runtime import cli\n"
        "sys.argv = ['stage', 'logging=none', *sys.argv[1:]]\n"
        "cli.stage_main(lambda cfg: print('USE_HUB_KERNELS', os.environ['USE_HUB_KERNELS']))()"
    )
    result = subprocess.run(  # the environment's own value is overruled by the config's (model.hub_kernels=false)
        [sys.executable, "-c", code, "hydra.run.dir=/tmp/hydra-hub-kernels"],
        cwd=REPO_ROOT,
        env={**os.environ, "USE_HUB_KERNELS": "YES"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "USE_HUB_KERNELS NO"


# Validation under a launcher: two processes with the environment `accelerate launch` gives them.
NAIVE_CHECK = "import trl; trl.GRPOConfig(output_dir='/tmp/x', use_cpu=True, report_to='none')"
OUR_CHECK = "from helpers import compose; from runtime import config; config.validate(compose([]))"
REPORT = "import torch.distributed as dist; print('initialized', dist.is_available() and dist.is_initialized())"


def launch_two_ranks(code: str) -> list[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    processes = []
    for rank in range(2):
        env = {
            **os.environ,
            "PYTHONPATH": f"{REPO_ROOT}:{REPO_ROOT / 'tests'}",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "WORLD_SIZE": "2",
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "LOCAL_WORLD_SIZE": "2",
            "OMP_NUM_THREADS": "1",
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", f"{code}\n{REPORT}"], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True
            )
        )
    outputs = [process.communicate(timeout=240)[0] for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    return [output.strip().splitlines()[-1] for output in outputs]


@pytest.mark.slow
def test_validation_never_initialises_torch_distributed_under_a_launcher():
    assert launch_two_ranks(NAIVE_CHECK) == ["initialized True"] * 2  # building a TRL config did, before the fix
    assert launch_two_ranks(OUR_CHECK) == ["initialized False"] * 2
