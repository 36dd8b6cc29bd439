"""How much of the machine an SFT step of the embedded default uses: achieved FLOP/s against the measured fp32 matmul
peak, and the share of a step spent outside the model.

    .venv/bin/python bench/bench_sft_flops.py [--steps 60] [--threads N] [-- overrides]

  peak        fp32 square matmuls (n = 1024, 2048) with this process's torch threads: the machine's ceiling
  shaped      the same at the default model's own matmul shapes (tokens of a batch x 128 -> 128 / 384 / 1024):
              what a model this narrow can reach at best
  sft         --steps steps of the default SFT config (conf/sft/default.yaml, the pipeline's data), as the stage
              builds its trainer: wall time per step and tokens; FLOPs = 6 x matmul parameters x tokens + causal
              attention 6 x layers x hidden x (sequence length) per token, both for the tokens the step computes
              (padding included) and for the real ones
  model only  the same batches through forward + loss + backward alone (no optimizer, collation, logging), with
              the trainer's loss (TRL's compute_loss, its chunked LM head and metrics) and with the model's plain
              loss: the rest of the step is time outside the model; the difference is what TRL's loss path costs

Threads: --threads (default: torch's default, all cores). Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch
from measure import OFFLINE_ENV, REPO_ROOT, compose  # bench/measure.py: the script directory is on sys.path

sys.path.insert(0, str(REPO_ROOT))


def matmul_flops(m: int, k: int, n: int, seconds: float = 1.0) -> float:
    """FLOP/s of an [m, k] @ [k, n] fp32 matmul, repeated for about `seconds`."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(3):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * m * k * n * count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    os.environ.update(OFFLINE_ENV)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()

    from trl import SFTTrainer

    from data.loading import load_sft
    from runtime import chat_templates, models, training

    with tempfile.TemporaryDirectory() as runs:
        cfg = compose(
            [
                f"runs_dir={runs}",
                "run_name=flops",
                "logging=none",
                f"sft.max_steps={args.steps}",
                "sft.logging_steps=1",
                *args.overrides,
            ]
        )
        options, sft_args = training.trainer_args(cfg, "sft")
        model, tokenizer = models.load_model_and_tokenizer(cfg, models.resolve_parent(cfg, options.parent))
        dataset = load_sft(cfg.data.sft)
        with chat_templates.for_training(tokenizer, cfg.model):
            trainer = SFTTrainer(model=model, args=sft_args, train_dataset=dataset, processing_class=tokenizer)
            batches = [batch for _, batch in zip(range(args.steps), trainer.get_train_dataloader())]
            start = time.perf_counter()
            result = trainer.train()
            step_s = (time.perf_counter() - start) / result.global_step

            # The same batches through forward + loss + backward alone, two ways: the trainer's own loss (TRL's
            # compute_loss, with its chunked "fused" LM head and the entropy/accuracy metrics) and the model's plain
            # one (full logits + cross-entropy, what transformers' Trainer computes).
            model.train()
            replay = {"trl": [], "plain": []}
            for batch in batches:
                inputs = trainer._prepare_inputs(batch)
                plain = {k: inputs[k] for k in ("input_ids", "attention_mask", "labels")}
                for name in replay:
                    start = time.perf_counter()
                    loss = trainer.compute_loss(model, inputs) if name == "trl" else model(**plain).loss
                    loss.backward()
                    replay[name].append(time.perf_counter() - start)
                    model.zero_grad(set_to_none=True)
        model_s = statistics.fmean(replay["trl"][2:])
        plain_s = statistics.fmean(replay["plain"][2:])

    config = model.config
    d, layers, ff, vocab = config.hidden_size, config.num_hidden_layers, config.intermediate_size, config.vocab_size
    matmul_params = layers * (4 * d * d + 3 * d * ff) + vocab * d  # q, k, v, o; gate, up, down; the (tied) lm_head
    computed = [batch["input_ids"].numel() for batch in batches]
    real = [int(batch["attention_mask"].sum()) for batch in batches]
    length = statistics.fmean(batch["input_ids"].shape[1] for batch in batches)
    per_token = 6 * matmul_params + 6 * layers * d * length  # causal attention: half of 12 x layers x d x length
    flops_computed = per_token * statistics.fmean(computed) / step_s
    flops_real = per_token * statistics.fmean(real) / step_s

    peak = max(matmul_flops(n, n, n) for n in (1024, 2048))
    tokens = int(statistics.fmean(computed))
    shaped = {f"{tokens}x{d}@{d}x{n}": matmul_flops(tokens, d, n) for n in (d, ff, vocab)}
    print(f"threads {threads}; model: {matmul_params / 1e6:.2f}M matmul parameters, hidden {d}, {layers} layers")
    print(f"fp32 matmul peak (square, n=1024/2048): {peak / 1e9:.1f} GFLOP/s")
    for shape, value in shaped.items():
        print(f"  at the model's shape {shape}: {value / 1e9:.1f} GFLOP/s ({100 * value / peak:.0f}% of peak)")
    print(
        f"SFT step: {step_s * 1e3:.1f} ms, {statistics.fmean(computed):.0f} tokens computed "
        f"({statistics.fmean(real):.0f} real, padding {100 * (1 - sum(real) / sum(computed)):.0f}%), "
        f"mean length {length:.0f}"
    )
    print(
        f"achieved: {flops_computed / 1e9:.2f} GFLOP/s computed = {100 * flops_computed / peak:.1f}% of peak; "
        f"{flops_real / 1e9:.2f} GFLOP/s on real tokens = {100 * flops_real / peak:.1f}%"
    )
    print(
        f"the step's FLOPs at peak would take {per_token * statistics.fmean(computed) / peak * 1e3:.1f} ms: the rest "
        "of forward + backward is the model's other operations (attention softmax, norms, activations, the loss)"
    )
    print(
        f"forward + TRL's loss + backward alone: {model_s * 1e3:.1f} ms = {100 * model_s / step_s:.0f}% of the step; "
        f"outside the model (optimizer, collation, logging, Python): {100 * (1 - model_s / step_s):.0f}%"
    )
    print(
        f"the same with the model's plain loss: {plain_s * 1e3:.1f} ms: TRL's loss path costs "
        f"{(model_s - plain_s) * 1e3:+.1f} ms a step ({100 * (model_s - plain_s) / step_s:+.0f}% of it)"
    )


if __name__ == "__main__":
    main()
