"""Where a model runs and in what precision: one policy for every model the project loads (policy, reference,
eval, on-policy sampling, reward-model scoring), and the preflight that refuses a GPU node torch cannot use.

    device            the local rank's accelerator (cuda:LOCAL_RANK) when torch can use one, else the CPU
    compute precision model.dtype (auto = bfloat16 on a GPU, float32 on a CPU, where bf16 matmuls are ~600x slower);
                      for training it is TRL's `bf16` (autocast), set from it in runtime/training.trainer_args
    trainable weights float32, the master copy AdamW updates, unless DeepSpeed's bf16 is in charge (it keeps fp32
                      master weights of its own, so the module may be bf16)
    inference copies  the compute precision, on the device

Why trainable weights are fp32: bf16 has 8 bits of mantissa, so an update smaller than ~2^-9 of a weight rounds
away. At Tülu 3's DPO lr 5e-7 and RLVR lr 1e-6 nearly every AdamW update is that small: in 3 DPO steps bf16 weights
updated in place changed 0.9% of the tiny model's weights (those near zero), fp32 ones 99.998%
(tests/test_devices.py). TRL loads trainable models in fp32 for the same reason.
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig

PRECISIONS = ("auto", "float32", "bfloat16", "float16")


def accelerator_available() -> bool:
    import torch

    return torch.cuda.is_available()


def local_device():
    """cuda:<LOCAL_RANK> (the GPU accelerate gives this process) when torch can use a GPU, else the CPU."""
    import torch

    if not accelerator_available():
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())


def compute_dtype(cfg: DictConfig):
    """The precision the model computes in: model.dtype, with auto = bfloat16 on a GPU and float32 on a CPU."""
    import torch

    if cfg.model.dtype == "auto":
        return torch.bfloat16 if accelerator_available() else torch.float32
    return getattr(torch, cfg.model.dtype)


def deepspeed_in_charge() -> bool:
    """True inside `accelerate launch --use_deepspeed` (make ... DS=zero2|zero3|zero3_offload, the sbatch script)."""
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"


def weights_dtype(cfg: DictConfig, trainable: bool):
    """The dtype a model's weights are loaded in: inference copies in the compute precision; trainable weights in
    float32 (the master copy), unless DeepSpeed keeps the master copy itself."""
    import torch

    if not trainable or deepspeed_in_charge():
        return compute_dtype(cfg)
    return torch.float32


def autocast(cfg: DictConfig):
    """The compute precision for a trainable (fp32) model used before its trainer wraps it -- DPO's on-policy
    sampling: the trainer's own passes run under accelerate's autocast, which this mirrors. Off on a CPU."""
    import torch

    dtype = compute_dtype(cfg)
    return torch.autocast(local_device().type, dtype=dtype, enabled=accelerator_available() and dtype != torch.float32)


def place(model):
    """The model on the local device. Under DeepSpeed ZeRO-3 its weights were partitioned while it loaded and the
    engine places the shards: left as it is."""
    from transformers.integrations import is_deepspeed_zero3_enabled

    if accelerator_available() and not is_deepspeed_zero3_enabled():
        model.to(local_device())
    return model


def describe(model) -> dict:
    """What ran: the device, the weights' dtype and the attention of a loaded model (manifests, eval results)."""
    parameter = next(model.parameters())
    return {
        "device": str(parameter.device),
        "model_dtype": str(model.dtype).removeprefix("torch."),
        "attn_implementation": model.config._attn_implementation,
    }


class PreflightError(SystemExit):
    """GPUs are on this node but torch cannot use them; the message says why and what to do, in one line."""


def apply_hub_kernels_policy(cfg: DictConfig) -> None:
    """model.hub_kernels decides, for every model this process loads (TRL's own reference copies too), whether
    transformers may replace layers with kernels from the Hub: through USE_HUB_KERNELS, which transformers reads at
    each load, so a copy TRL loads by path follows the same rule."""
    os.environ["USE_HUB_KERNELS"] = "YES" if cfg.model.hub_kernels else "NO"


def preflight(device_dir: Path | str | None = None) -> None:
    """Refuse to start when NVIDIA GPUs are present but torch cannot use them (a CPU build of torch, a driver too
    old for torch's CUDA build, ...): every stage would otherwise train on the CPU in fp32, silently and for days.
    CUDA_VISIBLE_DEVICES="" (hiding the GPUs on purpose) runs on the CPU as asked."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1") or accelerator_available():
        return
    device_dir = device_dir or os.environ.get("TULU_DEVICE_DIR", "/dev")  # the variable: tests' stand-in for /dev
    gpus = sorted(path.name for path in Path(device_dir).glob("nvidia[0-9]*"))
    if not gpus:
        return
    import torch

    raise PreflightError(
        f"preflight: {len(gpus)} NVIDIA GPU(s) on this node ({', '.join(gpus)}) but torch {torch.__version__} "
        f"cannot use them ({cuda_unusable_reason()}); install a torch build for this driver (make setup "
        'TORCH_SPEC=..., README "Real models and GPU nodes"), or set CUDA_VISIBLE_DEVICES= to run on the CPU'
    )


def cuda_unusable_reason() -> str:
    import torch

    if torch.version.cuda is None:
        return "a CPU-only build of torch"
    try:
        torch.cuda.init()
    except Exception as error:  # noqa: BLE001 -- the driver's own words, whatever the failure
        return f"CUDA {torch.version.cuda} build: {str(error).strip().splitlines()[0]}"
    return f"CUDA {torch.version.cuda} build: no device visible"
