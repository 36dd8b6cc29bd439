"""How much of the machine an SFT step of the embedded default uses: achieved FLOP/s against the measured fp32 matmul
peak, and the share of a step spent outside the model.

    .venv/bin/python bench/bench_sft_flops.py [--steps 60] [--threads N] [-- overrides]

  peak        fp32 square matmuls (n = 1024, 2048) with this process's torch threads: the machine's ceiling
  shaped      the same at the default model's own matmul shapes (tokens of a batch x 128 -> 128 / 384 / 1024):
              what a model this narrow can reach at best
  sft         --steps steps of the default SFT config (conf/sft/default.yaml, the pipeline's data), with the trainer
              the stage builds (stages/sft.py): wall time per step and tokens; FLOPs = 6 x matmul parameters x
              tokens + causal attention 6 x layers x hidden x (sequence length)^2 per sequence, both for the tokens
              the step computes (padding included, none in padding-free batches) and for the real ones
  model only  the same batches through forward + loss + backward alone (no optimizer, collation, logging), with
              the stage's loss and with TRL's (SFTTrainer.compute_loss: its chunked LM head and metrics): the rest
              of the step is time outside the model; the difference is what TRL's loss path would cost

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
    from stages.sft import trainer_class

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
        model, tokenizer = models.load_model_and_tokenizer(
            cfg, models.resolve_parent(cfg, options.parent), trainable=True
        )
        dataset = load_sft(cfg.data.sft)
        with chat_templates.for_training(tokenizer, cfg.model):
            trainer = trainer_class(options)(
                model=model, args=sft_args, train_dataset=dataset, processing_class=tokenizer
            )
            batches = [batch for _, batch in zip(range(args.steps), trainer.get_train_dataloader())]
            start = time.perf_counter()
            result = trainer.train()
            step_s = (time.perf_counter() - start) / result.global_step

            # The same batches through forward + loss + backward alone, two ways: the stage's loss, and TRL's
            # (its chunked "fused" LM head and the entropy/accuracy metrics).
            model.train()
            replay = {"stage": [], "trl": []}
            for batch in batches:
                inputs = trainer._prepare_inputs(batch)
                for name in replay:
                    compute_loss = trainer.compute_loss if name == "stage" else SFTTrainer.compute_loss.__get__(trainer)
                    start = time.perf_counter()
                    compute_loss(model, dict(inputs)).backward()
                    replay[name].append(time.perf_counter() - start)
                    model.zero_grad(set_to_none=True)
        model_s = statistics.fmean(replay["stage"][2:])
        trl_s = statistics.fmean(replay["trl"][2:])

    config = model.config
    d, layers, ff, vocab = config.hidden_size, config.num_hidden_layers, config.intermediate_size, config.vocab_size
    matmul_params = layers * (4 * d * d + 3 * d * ff) + vocab * d  # q, k, v, o; gate, up, down; the (tied) lm_head
    computed = [batch["input_ids"].numel() for batch in batches]
    real = [real_tokens(batch) for batch in batches]
    lengths = [sequence_lengths(batch) for batch in batches]  # as computed: padded rows at the padded length
    # causal attention: half of 12 x layers x d x length per token, i.e. 6 x layers x d x length^2 per sequence
    attention = [6 * layers * d * sum(n * n for n in seqs) for seqs in lengths]
    step_flops = statistics.fmean(6 * matmul_params * c + a for c, a in zip(computed, attention))
    real_flops = statistics.fmean(6 * matmul_params * r + a for r, a in zip(real, attention))
    flops_computed, flops_real = step_flops / step_s, real_flops / step_s

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
        f"{'padding-free' if 'position_ids' in batches[0] else 'padded'} batches"
    )
    print(
        f"achieved: {flops_computed / 1e9:.2f} GFLOP/s computed = {100 * flops_computed / peak:.1f}% of peak; "
        f"{flops_real / 1e9:.2f} GFLOP/s on real tokens = {100 * flops_real / peak:.1f}%"
    )
    print(
        f"the step's FLOPs at peak would take {step_flops / peak * 1e3:.1f} ms: the rest "
        "of forward + backward is the model's other operations (attention softmax, norms, activations, the loss)"
    )
    print(
        f"forward + the stage's loss + backward alone: {model_s * 1e3:.1f} ms = {100 * model_s / step_s:.0f}% of the "
        f"step; outside the model (optimizer, collation, logging, Python): {100 * (1 - model_s / step_s):.0f}%"
    )
    print(
        f"the same with TRL's loss (chunked LM head): {trl_s * 1e3:.1f} ms: {(trl_s - model_s) * 1e3:+.1f} ms a step "
        f"({100 * (trl_s - model_s) / step_s:+.0f}% of it)"
    )


def real_tokens(batch: dict) -> int:
    return batch["input_ids"].numel() if "position_ids" in batch else int(batch["attention_mask"].sum())


def sequence_lengths(batch: dict) -> list[int]:
    """The length of each sequence as the attention computes it: padding-free, its own; padded, the row's."""
    if "cu_seq_lens_q" in batch:
        return batch["cu_seq_lens_q"].diff().tolist()
    rows, length = batch["input_ids"].shape
    return [length] * rows


if __name__ == "__main__":
    main()
