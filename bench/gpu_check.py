"""`make gpu-check`: a few steps of every stage on one CUDA GPU, offline, before anyone books a node for a real run.

    make gpu-check                      (= .venv/bin/python bench/gpu_check.py)
    python bench/gpu_check.py --steps 8 --models tiny qwen2_5_0_5b_random
    python bench/gpu_check.py --cpu --models tiny --steps 2      the same code path on the CPU (what the tests run)

For each model -- (a) the embedded tiny default, (b) Qwen2.5-0.5B's architecture (bench/configs/qwen2_5_0_5b.json,
the sizes of the hub config.json) initialised at random with the tiny tokenizer, no weights needed -- the real
stages run in a temporary runs directory: SFT -> DPO (reference log-probs precomputed through the on-disk cache) ->
GRPO (HF generate; again with each prompt computed once, rlvr.share_prompts; again with vLLM colocated when vLLM is
installed). Precision is the stages' own choice: on a GPU bf16 autocast over fp32 trainable weights
(runtime/devices.py). Printed per stage, from the manifest the stage wrote and
CUDA's counters:
  tokens/s    TRL's num_tokens (trained tokens: DPO counts chosen + rejected, GRPO prompt + completion) over the
              trainer's runtime
  MFU         6 x parameters x tokens/s over the card's dense bf16 peak (datasheet, when the card is known) and over
              the bf16 matmul peak measured here; a lower bound: generation, reference and old-policy passes and
              attention are not counted
  memory      torch.cuda.max_memory_allocated during the stage
  ran with    the dtype of the weights the trainer held (fp32 masters on a GPU too) and the attention that ran
Without a CUDA GPU it says so and exits 0 (nothing to check); --cpu runs it anyway, in fp32.
A machine whose Python lacks our dependencies: see the README, "GPU check" (wheels carried in .whl/).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from measure import OFFLINE_ENV, compose  # bench/measure.py: the script directory is on sys.path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
for key, value in OFFLINE_ENV.items():
    os.environ.setdefault(key, value)

RANDOM_CONFIGS = {"qwen2_5_0_5b_random": REPO_ROOT / "bench" / "configs" / "qwen2_5_0_5b.json"}
# Dense bf16 tensor-core peaks, TFLOP/s, from NVIDIA's datasheets (without sparsity), matched against the device name.
BF16_PEAK_TFLOPS = {
    "H200": 989.0,
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10": 125.0,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["tiny", *RANDOM_CONFIGS], choices=["tiny", *RANDOM_CONFIGS])
    parser.add_argument("--steps", type=int, default=5, help="optimizer steps per stage")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU when there is no GPU (fp32; for tests)")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available() and not args.cpu:
        print(
            f"gpu-check: skipped -- no CUDA GPU visible to torch {torch.__version__} "
            f"(CUDA build: {torch.version.cuda or 'none'}). Run it on a GPU node; --cpu runs the same steps here."
        )
        return 0
    from runtime import devices

    devices.apply_hub_kernels_policy(compose([]))  # as every stage command does (runtime/cli.py)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    measured_peak = matmul_peak_tflops()
    datasheet_peak = next((peak for name, peak in BF16_PEAK_TFLOPS.items() if name in device), None)
    print(
        f"gpu-check on {device}: measured {'bf16' if torch.cuda.is_available() else 'fp32'} matmul peak "
        f"{measured_peak:.1f} TFLOP/s; datasheet bf16 peak {datasheet_peak or 'unknown'}"
    )

    results = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as runs_dir:
        for model in args.models:
            for stage, overrides in stage_plan(model, args.steps, Path(runs_dir)):
                results.append(run_stage(model, stage, overrides, measured_peak, datasheet_peak))
    print_table(device, results)
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "device": device,
                    "measured_peak_tflops": measured_peak,
                    "datasheet_peak_tflops": datasheet_peak,
                    "stages": results,
                },
                indent=2,
            )
            + "\n"
        )
    return 1 if any(r["status"] != "ok" for r in results) else 0


def matmul_peak_tflops(size: int = 4096, repeats: int = 10) -> float:
    """The best of a few square matmuls, in the precision the stages train in on this device."""
    import torch

    gpu = torch.cuda.is_available()
    size = size if gpu else 1024
    a, b = (
        torch.randn(size, size, device="cuda" if gpu else "cpu", dtype=torch.bfloat16 if gpu else torch.float32)
        for _ in range(2)
    )
    best = float("inf")
    for _ in range(repeats):
        if gpu:
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if gpu:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e12


def stage_plan(model: str, steps: int, runs_dir: Path) -> list[tuple[str, list[str]]]:
    """(stage, overrides) in order; every stage of a model shares its run, so DPO starts from its SFT and so on."""
    common_overrides = [f"runs_dir={runs_dir}", f"run_name={model}", "logging=none", *model_overrides(model)]
    batch = 8
    sft = [
        *common_overrides,
        f"sft.max_steps={steps}",
        f"sft.per_device_train_batch_size={batch}",
        "sft.logging_steps=1",
        f"data.sft=[{{path: 'embedded:sft_train', max_rows: {steps * batch}}}]",
    ]
    dpo = [
        *common_overrides,
        f"dpo.max_steps={steps}",
        f"dpo.per_device_train_batch_size={batch}",
        "dpo.logging_steps=1",
        f"data.preference=[{{path: 'embedded:preference_train', max_rows: {steps * batch}}}]",
    ]
    grpo = [
        *common_overrides,
        f"rlvr.max_steps={steps}",
        "rlvr.num_generations=8",
        "rlvr.per_device_train_batch_size=32",
        "rlvr.logging_steps=1",
        "rlvr.log_completions=false",
        f"data.rlvr=[{{path: 'embedded:rlvr_train', max_rows: {steps * 4}}}]",
    ]
    # each prompt once under its 8 completions (rlvr.share_prompts): a 4-D mask through the attention `auto` picks
    shared = [*grpo, f"run_name={model}-shared", f"rlvr.parent={runs_dir / model / 'dpo'}", "rlvr.share_prompts=true"]
    plan = [("sft", sft), ("dpo", dpo), ("grpo", grpo), ("grpo+shared", shared)]
    if importlib.util.find_spec("vllm") is not None:
        plan.append(
            (
                "grpo+vllm",
                [
                    *grpo,
                    "run_name=" + model + "-vllm",
                    f"rlvr.parent={runs_dir / model / 'dpo'}",
                    "rlvr.use_vllm=true",
                    "rlvr.vllm_mode=colocate",
                    "rlvr.vllm_gpu_memory_utilization=0.3",
                ],
            )
        )
    else:
        print("gpu-check: vLLM is not installed; GRPO runs with HF generate only (pip install -e '.[vllm]')")
    return plan


def model_overrides(model: str) -> list[str]:
    if model == "tiny":
        return []
    return ["model=qwen2_5_0_5b", f"model.name={model}", f"model.path={random_model(model)}"]


def random_model(name: str) -> Path:
    """A checkpoint of the architecture in RANDOM_CONFIGS[name], random weights, the tiny tokenizer (its 1024 ids fit
    any vocabulary): built once under .cache/random/. Nothing is downloaded."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from runtime import files, models

    target = REPO_ROOT / ".cache" / "random" / name
    if (target / "config.json").exists():
        return target
    values = json.loads(RANDOM_CONFIGS[name].read_text())
    config = AutoConfig.for_model(values.pop("model_type"), **values)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16 if torch.cuda.is_available() else None)
    tokenizer = AutoTokenizer.from_pretrained(models.base_model_path(compose([])))  # the embedded tiny model's
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    target.parent.mkdir(parents=True, exist_ok=True)
    return files.save_checkpoint(model, tokenizer, target)


def run_stage(model: str, stage: str, overrides: list[str], measured_peak: float, datasheet_peak: float | None) -> dict:
    import torch

    from runtime import layout
    from stages import dpo, rlvr, sft

    row = {"model": model, "stage": stage}
    recipe = {"sft": sft, "dpo": dpo, "grpo": rlvr}[stage.split("+")[0]]  # grpo+shared, grpo+vllm: GRPO too
    name = "rlvr" if stage.startswith("grpo") else stage
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    try:
        cfg = compose(overrides)
        recipe.run(cfg)
    except (Exception, SystemExit) as error:  # noqa: BLE001 -- one failing stage must not hide the others' figures
        traceback.print_exc()
        return {**row, "status": f"failed: {type(error).__name__}: {error}"[:300]}
    manifest = layout.read_manifest(layout.stage_dir(cfg, name))
    metrics = manifest["metrics"]
    parameters = count_parameters(layout.stage_dir(cfg, name))
    tokens, seconds = metrics.get("num_tokens"), metrics.get("train_runtime_s")
    tokens_per_s = tokens / seconds if tokens and seconds else None
    flops = 6 * parameters * tokens_per_s if tokens_per_s else None
    return {
        **row,
        "status": "ok",
        "parameters": parameters,
        "steps": metrics.get("global_step"),
        "tokens": tokens,
        "runtime_s": seconds,
        "tokens_per_s": tokens_per_s,
        "mfu_datasheet": flops / (datasheet_peak * 1e12) if flops and datasheet_peak else None,
        "mfu_measured": flops / (measured_peak * 1e12) if flops else None,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
        "dtype": metrics.get("model_dtype"),
        "attn_implementation": metrics.get("attn_implementation"),
    }


def count_parameters(checkpoint: Path) -> int:
    """From the saved tensors' shapes (tied embeddings are stored, and counted, once)."""
    import math

    from safetensors import safe_open

    total = 0
    for file in sorted(checkpoint.glob("*.safetensors")):
        with safe_open(file, "pt") as handle:
            total += sum(math.prod(handle.get_slice(key).get_shape()) for key in handle.keys())
    return total


def print_table(device: str, results: list[dict]) -> None:
    def fmt(value, spec):
        return "-" if value is None else format(value, spec)

    print(f"\ngpu-check results on {device}")
    header = (
        f"{'model':<22}{'stage':<11}{'params':>8}{'tokens/s':>11}{'MFU sheet':>10}{'MFU meas.':>10}"
        f"{'peak GiB':>9}  {'dtype':<9}{'attention':<14}status"
    )
    print(header + "\n" + "-" * len(header))
    for r in results:
        params = f"{r['parameters'] / 1e6:.0f}M" if r.get("parameters") else "-"
        print(
            f"{r['model']:<22}{r['stage']:<11}{params:>8}{fmt(r.get('tokens_per_s'), ',.0f'):>11}"
            f"{fmt(r.get('mfu_datasheet'), '.1%'):>10}{fmt(r.get('mfu_measured'), '.1%'):>10}"
            f"{fmt(r.get('peak_memory_gib'), '.1f'):>9}  {r.get('dtype') or '-':<9}"
            f"{r.get('attn_implementation') or '-':<14}{r['status']}"
        )


if __name__ == "__main__":
    sys.exit(main())
