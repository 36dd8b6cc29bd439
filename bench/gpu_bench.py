"""`make gpu-bench`: throughput on one GPU at real batch sizes, in under 10 minutes, offline -- what `make gpu-check`'s
430-token batches cannot say.

    make gpu-bench                                 (= .venv/bin/python bench/gpu_bench.py --out gpu-bench.json)
    python bench/gpu_bench.py --skip pipeline      leave out a section (matmul attention sft dpo grpo eval pipeline)
    python bench/gpu_bench.py --cpu                every section but the pipeline at toy sizes on the CPU (the tests)

Sections, each timed with CUDA events and reported even when another fails:
  matmul     the bf16 matmul peak of this card (8192^3, best of 10), the denominator of "MFU measured"
  attention  forward + backward of one packed row of 16k tokens in Qwen2.5-0.5B's attention shapes (14 query heads,
             2 key/value heads, 64 wide), sequence lengths drawn anew for every row (a lognormal of median 512,
             capped at 4096: an assumption, not Tülu's measured mixture): transformers' sdpa with the block mask,
             varlen_sdpa (cuDNN excluded, as `auto` runs it), varlen_sdpa with cuDNN allowed (the H200's 1.5 s steps),
             varlen_flash (torch's variable-length kernel), flash_attention_2 when flash-attn is installed; each
             output against varlen_sdpa's
  sft        Qwen2.5-0.5B's architecture at random (bench/configs/qwen2_5_0_5b.json) on padding-free batches of
             >= 16k tokens: the stage's trainer (runtime/devices.py's precision, attention auto) against plain TRL
             SFTTrainer handed the checkpoint path and the same batches, in this run; tokens/s after the warm-up
             steps, MFU = (6 x matmul parameters x tokens + 6 x layers x width x sum of squared lengths) / time over
             the datasheet bf16 peak and the measured one
  dpo, grpo  the stages themselves (bench/gpu_check.py's run_stage) at larger batches; GRPO with a fixed amount of
             generation (the random model rambles to max_completion_length)
  eval       the eval suite on the tiny model: the device it ran on (eval/<stage>.json `ran_on`)
  pipeline   the tiny default's whole `make pipeline`, against its 357-374 s on 2 CPU cores (docs/results.md)
Without a CUDA GPU it says so and exits 0. docs/gpu.md says how to carry the wheels to a GPU machine without network.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from gpu_check import BF16_PEAK_TFLOPS, count_parameters, model_overrides, random_model, run_stage
from measure import OFFLINE_ENV, compose

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
for key, value in OFFLINE_ENV.items():
    os.environ.setdefault(key, value)

SECTIONS = ("matmul", "attention", "sft", "dpo", "grpo", "eval", "pipeline")
CPU_PIPELINE_S = (357, 374)  # the tiny default's make pipeline on 2 CPU cores, clean clones (docs/results.md)
# Sizes on a GPU, and the toy sizes of --cpu (the same code, minutes -> seconds)
# fmt: off
SIZES = {
    "gpu": dict(
        model="qwen2_5_0_5b_random", row_tokens=16384, median_length=512, heads=(14, 2, 64), rows=6,
        sft_batch=24, sft_steps=20, warmup_steps=5, dpo_batch=16, dpo_steps=5, grpo_batch=64, grpo_steps=3,
        grpo_completion=128, eval_rows=50,
    ),
    "cpu": dict(
        model="tiny", row_tokens=512, median_length=48, heads=(4, 2, 32), rows=3,
        sft_batch=4, sft_steps=4, warmup_steps=1, dpo_batch=4, dpo_steps=2, grpo_batch=8, grpo_steps=1,
        grpo_completion=16, eval_rows=2,
    ),
}
# fmt: on


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="toy sizes on the CPU when there is no GPU (the tests)")
    parser.add_argument("--skip", nargs="*", default=[], choices=SECTIONS[1:], help="sections to leave out")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.cpu:
        print(
            f"gpu-bench: skipped -- no CUDA GPU visible to torch {torch.__version__} "
            f"(CUDA build: {torch.version.cuda or 'none'}). Run it on a GPU node; --cpu runs toy sizes here."
        )
        return 0
    from runtime import devices

    devices.apply_hub_kernels_policy(compose([]))  # as every stage command does (runtime/cli.py)
    sizes = SIZES["gpu" if cuda else "cpu"]
    device = torch.cuda.get_device_name(0) if cuda else "CPU"
    report = {"device": device, "torch": torch.__version__, "sizes": sizes, "sections": {}}
    report["datasheet_peak_tflops"] = next((p for name, p in BF16_PEAK_TFLOPS.items() if name in device), None)
    skipped = set(args.skip) | (set() if cuda else {"pipeline"})
    clock = Clock(cuda)
    with tempfile.TemporaryDirectory(prefix="gpu-bench-") as runs:
        runs_dir = Path(runs)
        for name in SECTIONS:
            if name in skipped:
                continue
            start = time.perf_counter()
            print(f"\n== gpu-bench: {name}")
            try:
                figures = SECTION_FUNCTIONS[name](sizes, clock, report, runs_dir)
                report["sections"][name] = {"status": "ok", **figures}
            except (Exception, SystemExit) as error:  # noqa: BLE001 -- one failing section must not hide the others
                traceback.print_exc()
                report["sections"][name] = {"status": f"failed: {type(error).__name__}: {error}"[:300]}
            report["sections"][name]["wall_s"] = round(time.perf_counter() - start, 1)
    print_report(report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 1 if any(s["status"] != "ok" for s in report["sections"].values()) else 0


class Clock:
    """Seconds of GPU work between two points, from CUDA events (perf_counter on the CPU)."""

    def __init__(self, cuda: bool):
        self.cuda = cuda

    def time(self, work) -> float:
        import torch

        if not self.cuda:
            start = time.perf_counter()
            work()
            return time.perf_counter() - start
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        work()
        end.record()
        end.synchronize()
        return begin.elapsed_time(end) / 1000

    def now(self) -> float:
        import torch

        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()


# ----------------------------------------------------------------------------------------------------------------
# Sections


def matmul_section(sizes, clock, report, runs_dir) -> dict:
    import torch

    n = 8192 if clock.cuda else 512
    dtype = torch.bfloat16 if clock.cuda else torch.float32
    a, b = (torch.randn(n, n, device="cuda" if clock.cuda else "cpu", dtype=dtype) for _ in range(2))
    clock.time(lambda: a @ b)  # warm-up
    best = min(clock.time(lambda: a @ b) for _ in range(10))
    report["measured_peak_tflops"] = 2 * n**3 / best / 1e12
    return {"size": n, "dtype": str(dtype), "tflops": report["measured_peak_tflops"]}


def sequence_lengths(total: int, median: int, seed: int) -> list[int]:
    """Lengths of one packed row of `total` tokens: lognormal (sigma 1) around `median`, capped at 4096."""
    import random

    draw, lengths = random.Random(seed), []
    while sum(lengths) < total:
        lengths.append(max(8, min(4096, int(draw.lognormvariate(math.log(median), 1.0)))))
    lengths[-1] -= sum(lengths) - total
    return [length for length in lengths if length > 0]


def attention_variants(cuda: bool) -> dict:
    """name -> (attention function, extra context); what this machine can run."""
    import importlib.util

    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from runtime import attention

    variants = {  # varlen_sdpa first: the others' outputs are compared with its
        "varlen_sdpa": (attention.varlen_sdpa_attention, contextlib.nullcontext),
        "sdpa (block mask)": (sdpa_attention_forward, contextlib.nullcontext),
    }
    if cuda:

        def cudnn_allowed():
            original = attention.sdpa_without_cudnn
            attention.sdpa_without_cudnn = contextlib.nullcontext
            try:
                yield
            finally:
                attention.sdpa_without_cudnn = original

        variants["varlen_sdpa (cuDNN allowed)"] = (
            attention.varlen_sdpa_attention,
            contextlib.contextmanager(cudnn_allowed),
        )
        if attention.torch_has_varlen_attention(torch.device("cuda", 0)):
            variants["varlen_flash"] = (attention.varlen_flash_attention, contextlib.nullcontext)
        if importlib.util.find_spec("flash_attn") is not None:
            from transformers.integrations.flash_attention import flash_attention_forward

            variants["flash_attention_2"] = (flash_attention_forward, contextlib.nullcontext)
    return variants


def attention_section(sizes, clock, report, runs_dir) -> dict:
    """Forward + backward of packed rows, a new draw of lengths per row: the cost per row as training meets it."""
    import types

    import torch

    heads, kv_heads, width = sizes["heads"]
    device, dtype = ("cuda", torch.bfloat16) if clock.cuda else ("cpu", torch.float32)
    module = types.SimpleNamespace(num_key_value_groups=heads // kv_heads, training=True, is_causal=True)
    rows = [sequence_lengths(sizes["row_tokens"], sizes["median_length"], seed) for seed in range(sizes["rows"])]

    def inputs(lengths):
        tokens = sum(lengths)
        generator = torch.Generator(device=device).manual_seed(len(lengths))
        q = torch.randn(1, heads, tokens, width, device=device, dtype=dtype, generator=generator)
        k, v = (torch.randn(1, kv_heads, tokens, width, device=device, dtype=dtype, generator=generator) for _ in "kv")
        offsets = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], device=device, dtype=torch.int32)
        return [t.requires_grad_() for t in (q, k, v)], offsets

    def block_mask(lengths):
        segment = torch.repeat_interleave(
            torch.arange(len(lengths), device=device), torch.tensor(lengths, device=device)
        )
        causal = torch.ones(len(segment), len(segment), device=device, dtype=torch.bool).tril()
        return (causal & (segment[:, None] == segment[None, :]))[None, None]

    def step(function, context, lengths):
        (q, k, v), offsets = inputs(lengths)
        mask = block_mask(lengths) if function.__name__ == "sdpa_attention_forward" else None
        kwargs = dict(
            cu_seq_lens_q=offsets, cu_seq_lens_k=offsets, max_length_q=max(lengths), max_length_k=max(lengths)
        )

        def work():
            with context():
                out, _ = function(module, q, k, v, mask, dropout=0.0, scaling=width**-0.5, **kwargs)
            out.float().square().mean().backward()
            work.out = out.detach()

        seconds = clock.time(work)
        return seconds, work.out

    figures = {}
    reference = {}
    for name, (function, context) in attention_variants(clock.cuda).items():
        try:
            step(function, context, rows[0])  # warm-up on the first row's shapes
            timed = [step(function, context, lengths) for lengths in rows[1:]]
            errors = []
            for index, (_, out) in enumerate(timed):
                if name == "varlen_sdpa":
                    reference[index] = out
                elif index in reference:
                    errors.append((out.float() - reference[index].float()).abs().max().item())
            figures[name] = {
                "ms_per_row": 1000 * statistics.fmean(seconds for seconds, _ in timed),
                "tokens_per_s": sizes["row_tokens"] / statistics.fmean(seconds for seconds, _ in timed),
                "max_abs_diff_vs_varlen_sdpa": max(errors) if errors else None,
            }
        except Exception as error:  # noqa: BLE001 -- a variant this card cannot run is reported, not fatal
            figures[name] = {"failed": f"{type(error).__name__}: {error}"[:200]}
        print(f"  {name:<28} {figures[name]}")
    return {"rows": len(rows) - 1, "sequences_per_row": statistics.fmean(len(r) for r in rows), "variants": figures}


def synthetic_sft_rows(tokenizer, count: int, median: int, seed: int) -> list[dict]:
    """Conversations of realistic length from the embedded data's words: a question and an answer whose token count
    follows the same lognormal as the attention rows."""
    import random

    from data.loading import load_sft

    words = " ".join(
        turn["content"]
        for row in load_sft([{"path": "embedded:sft_train", "max_rows": 500}])
        for turn in row["messages"]
    ).split()
    per_word = len(tokenizer(" ".join(words[:2000]), add_special_tokens=False).input_ids) / 2000
    draw = random.Random(seed)
    rows = []
    for _ in range(count):
        length = sequence_lengths(1, median, draw.randrange(1 << 30))[0]  # one draw of the lognormal
        start = draw.randrange(len(words) - 4096)
        answer = " ".join(words[start : start + max(4, int(length / per_word))])
        rows.append({"messages": [{"role": "user", "content": "Explain."}, {"role": "assistant", "content": answer}]})
    return rows


def step_clock(clock: Clock):
    """A TrainerCallback holding (time, global step) after every optimizer step, the GPU synchronised first."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self):
            self.marks = []

        def on_step_end(self, args, state, control, **kwargs):
            self.marks.append((clock.now(), state.global_step))

    return StepClock()


def logged_tokens(trainer) -> list[int]:
    """TRL's running count of trained tokens after each step (logging_steps=1)."""
    return [entry["num_tokens"] for entry in trainer.state.log_history if "num_tokens" in entry and "loss" in entry]


def steady_throughput(trainer, marks, warmup: int) -> float:
    """Trained tokens per second between the end of step `warmup` and the last step."""
    tokens = logged_tokens(trainer)
    (t0, s0), (t1, s1) = marks[warmup - 1], marks[-1]
    return (tokens[s1 - 1] - tokens[s0 - 1]) / (t1 - t0)


def flops_per_token(model, dataset, tokenizer) -> tuple[float, float]:
    """(6 x the matmul parameters, attention FLOPs per token: 6 x layers x width x E[len^2] / E[len])."""
    import torch

    matmul = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    if model.config.tie_word_embeddings:  # the LM head's matmul is the embedding's weights
        matmul += model.get_input_embeddings().weight.numel()
    texts = [tokenizer.apply_chat_template(row["messages"], tokenize=False) for row in dataset]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False).input_ids]
    config = model.config
    attention = 6 * config.num_hidden_layers * config.hidden_size * sum(n * n for n in lengths) / sum(lengths)
    return 6 * matmul, attention


def sft_section(sizes, clock, report, runs_dir) -> dict:
    """The stage's trainer and plain TRL's on the same batches of >= 16k tokens, one after the other."""
    import gc

    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from runtime import chat_templates, models, training
    from stages.sft import trainer_class

    model_name = sizes["model"]
    overrides = [
        f"runs_dir={runs_dir}",
        "run_name=sft-bench",
        "logging=none",
        *model_overrides(model_name),
        f"sft.max_steps={sizes['sft_steps']}",
        f"sft.per_device_train_batch_size={sizes['sft_batch']}",
        "sft.logging_steps=1",
        "sft.save_strategy=no",
        "sft.full_logits_loss=false",  # TRL's chunked LM head: the logits of 16k tokens x 152k ids would be 5 GB
        "sft.activation_checkpointing=false",
    ]
    cfg = compose(overrides)
    path = random_model(model_name) if model_name != "tiny" else models.base_model_path(cfg)
    options, args = training.trainer_args(cfg, "sft")
    model, tokenizer = models.load_model_and_tokenizer(cfg, path, trainable=True)
    rows = synthetic_sft_rows(tokenizer, sizes["sft_batch"] * (sizes["sft_steps"] + 1), sizes["median_length"], 0)
    dataset = Dataset.from_list(rows)
    matmul_flops, attention_flops = flops_per_token(model, rows[:200], tokenizer)
    peaks = {"datasheet": report.get("datasheet_peak_tflops"), "measured": report.get("measured_peak_tflops")}
    results = {}

    def measure(label, trainer):
        marks = step_clock(clock)
        trainer.add_callback(marks)
        if clock.cuda:
            torch.cuda.reset_peak_memory_stats()
        trainer.train()
        tokens_per_s = steady_throughput(trainer, marks.marks, sizes["warmup_steps"])
        tokens_per_step = logged_tokens(trainer)[-1] / trainer.state.global_step
        held = trainer.accelerator.unwrap_model(trainer.model)
        results[label] = {
            "tokens_per_s": tokens_per_s,
            "tokens_per_step": tokens_per_step,
            **{
                f"mfu_{kind}": (matmul_flops + attention_flops) * tokens_per_s / (peak * 1e12) if peak else None
                for kind, peak in peaks.items()
            },
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if clock.cuda else None,
            "weights_dtype": str(held.dtype).removeprefix("torch."),
            "attn_implementation": held.config._attn_implementation,
            "bf16_autocast": trainer.args.bf16,
        }
        print(f"  {label:<10} {results[label]}")

    with chat_templates.for_training(tokenizer, cfg.model):
        stage = trainer_class(options)(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
        measure("stage", stage)
    del stage, model
    gc.collect()
    if clock.cuda:
        torch.cuda.empty_cache()
    plain = SFTConfig(  # what a TRL user writes for the same run: TRL loads the checkpoint itself
        output_dir=str(runs_dir / "plain-trl"),
        max_steps=sizes["sft_steps"],
        per_device_train_batch_size=sizes["sft_batch"],
        learning_rate=args.learning_rate,
        padding_free=True,
        max_length=None,  # TRL enforces none in padding-free batches without packing, as the stage's
        assistant_only_loss=True,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        bf16=clock.cuda,
        use_cpu=not clock.cuda,
    )
    measure("plain TRL", SFTTrainer(model=str(path), args=plain, train_dataset=dataset, processing_class=tokenizer))
    results["stage / plain TRL"] = results["stage"]["tokens_per_s"] / results["plain TRL"]["tokens_per_s"]
    results["parameters"] = count_parameters(Path(path))
    return results


def dpo_section(sizes, clock, report, runs_dir) -> dict:
    model_name = sizes["model"]
    parent = random_model(model_name) if model_name != "tiny" else "base"
    overrides = [
        f"runs_dir={runs_dir}",
        "run_name=stages-bench",
        "logging=none",
        *model_overrides(model_name),
        f"dpo.parent={parent}",
        f"dpo.max_steps={sizes['dpo_steps']}",
        f"dpo.per_device_train_batch_size={sizes['dpo_batch']}",
        "dpo.logging_steps=1",
        f"data.preference=[{{path: 'embedded:preference_train', max_rows: {sizes['dpo_steps'] * sizes['dpo_batch']}}}]",
    ]
    return stage_figures(
        run_stage(model_name, "dpo", overrides, report["measured_peak_tflops"], report.get("datasheet_peak_tflops"))
    )


def grpo_section(sizes, clock, report, runs_dir) -> dict:
    model_name = sizes["model"]
    overrides = [
        f"runs_dir={runs_dir}",
        "run_name=stages-bench",
        "logging=none",
        *model_overrides(model_name),
        f"rlvr.parent={runs_dir / 'stages-bench' / 'dpo'}",
        f"rlvr.max_steps={sizes['grpo_steps']}",
        "rlvr.num_generations=8",
        f"rlvr.per_device_train_batch_size={sizes['grpo_batch']}",
        f"rlvr.max_completion_length={sizes['grpo_completion']}",
        "rlvr.logging_steps=1",
        "rlvr.log_completions=false",
        f"data.rlvr=[{{path: 'embedded:rlvr_train', max_rows: {sizes['grpo_steps'] * sizes['grpo_batch'] // 8}}}]",
    ]
    return stage_figures(
        run_stage(model_name, "grpo", overrides, report["measured_peak_tflops"], report.get("datasheet_peak_tflops"))
    )


def stage_figures(row: dict) -> dict:
    if row["status"] != "ok":
        raise RuntimeError(row["status"])
    return {key: value for key, value in row.items() if key not in ("status", "model", "stage")}


def eval_section(sizes, clock, report, runs_dir) -> dict:
    from eval import run as eval_run
    from runtime import models

    cfg = compose(
        [f"runs_dir={runs_dir}", "run_name=eval-bench", "logging=none", f"eval.max_rows={sizes['eval_rows']}"]
    )
    cfg.eval.model, cfg.eval.name = str(models.base_model_path(cfg)), "tiny"
    result = eval_run.run(cfg)["tiny"]
    expected = "cuda" if clock.cuda else "cpu"
    if not result["ran_on"]["device"].startswith(expected):
        raise RuntimeError(f"the eval ran on {result['ran_on']['device']}, not {expected}")
    return {
        "ran_on": result["ran_on"],
        "generation_s": result["generation_s"],
        "prompts": sum(b["n"] for b in result["benchmarks"].values()),
    }


def pipeline_section(sizes, clock, report, runs_dir) -> dict:
    """The tiny default's whole chain in a child process, as `make pipeline` runs it."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "stages.pipeline", f"runs_dir={runs_dir}", "run_name=pipeline-bench", "logging=none"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-1500:] + done.stderr[-1500:])
    report_md = (runs_dir / "pipeline-bench" / "report.md").read_text()
    return {
        "wall_s": seconds,
        "cpu_2_cores_s": CPU_PIPELINE_S,
        "faster_than_cpu": seconds < CPU_PIPELINE_S[0],
        "report": report_md,
    }


SECTION_FUNCTIONS = {
    "matmul": matmul_section,
    "attention": attention_section,
    "sft": sft_section,
    "dpo": dpo_section,
    "grpo": grpo_section,
    "eval": eval_section,
    "pipeline": pipeline_section,
}


def print_report(report: dict) -> None:
    print(
        f"\ngpu-bench on {report['device']} (torch {report['torch']}); bf16 peak: datasheet "
        f"{report.get('datasheet_peak_tflops') or 'unknown'}, measured {report.get('measured_peak_tflops') or '-'}"
    )
    for name, section in report["sections"].items():
        figures = {k: v for k, v in section.items() if k not in ("status", "report")}
        print(f"  {name:<10} {section['status']:<8} {json.dumps(figures, default=str)[:600]}")


if __name__ == "__main__":
    sys.exit(main())
