"""The main job: base -> SFT -> DPO -> RLVR with an eval after each step, then the report.

    python -m stages.pipeline [key=value ...]        (or: make pipeline ARGS="...")

decontamination check -> base model (built if missing) -> eval base -> sft -> eval -> dpo -> eval -> rlvr -> eval ->
runs/<run_name>/report.md + report.png -> a table of wall times per step.

Re-running with the same run_name reuses every stage checkpoint trained from the same parent (by content) with the
same config, and every eval result of the same checkpoint content and eval settings (another run's too: every seed
of a seeds run evaluates the base model once); a stage whose parent or config changed is trained again, and so is
everything after it (each step says which and why). `run_name=x` starts a fresh
run, `overwrite=true` redoes everything. `seeds=[42,2,7]` (make pipeline SEEDS="42 2 7") runs the chain once per
seed as runs <run_name>-s42, ... and then writes the seeds report (eval/seeds.py). `eval.sampled_pass1=4` adds, after
each eval, one of 4 answers a prompt sampled at T = 1 (eval/<stage>.sampled.json), reported beside the greedy one.

The stages run in this process, one after the other, through the same `run(cfg)` that `make sft` etc. call: a
Python process with torch, transformers and TRL imported costs ~15 s of the 2-core budget to start, the embedded
model is a few MB, and each stage's model and trainer are dropped (and CUDA's cache emptied) before the next.
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a command: a typo in the config fails here, before torch and TRL load
    from runtime.cli import check_command_line

    check_command_line()

import gc
import time

from omegaconf import DictConfig

from eval import report as eval_report
from eval import run as eval_run
from eval import seeds
from runtime import chat_templates, cli, console, layout, models
from stages import dpo, rlvr, sft


def run(cfg: DictConfig) -> dict[str, dict]:
    start = time.time()
    timings: dict[str, str] = {}

    def timed(step: str, status: str, since: float) -> None:
        timings[step] = f"{time.time() - since:6.1f} s  {status}"

    # SFT's training chat template, read from the model's files: a model whose template cannot be marked for
    # assistant-only loss stops here, before the base model is converted and evaluated.
    sft.check_training_template(cfg, cfg.sft.parent)
    # Tools offered in RLVR or the eval: the model's template must render them (before hours of SFT, not after).
    if cfg.rlvr.tools or any(eval_run.offered_tools(cfg).values()):
        chat_templates.check_tools_template(cfg, cfg.sft.parent)

    # The benchmarks and their overlap with the training data first: a contaminated benchmark stops the run here,
    # before any training (eval.decontamination.action=error).
    t = time.time()
    benchmarks = eval_run.load_benchmarks(cfg)
    eval_run.decontamination(cfg)
    timed("benchmarks + decontamination", "", t)

    t = time.time()
    base = models.base_model_path(cfg)
    timed("base model", layout.display_path(base, cfg), t)

    results = {}
    for stage in ("base", *TRAINING_STAGES):
        if stage != "base":
            t = time.time()
            status = TRAINING_STAGES[stage](cfg)  # reuses the checkpoint (and says why) when parent and config match
            timed(stage, "reused: same parent and config" if status == "reused" else status, t)
            release_memory()
        t = time.time()
        reused = eval_run.up_to_date(cfg, stage) is not None
        results[stage] = eval_run.evaluate(cfg, stage, benchmarks=benchmarks)
        copied = results[stage].get("copied_from")
        status = "reused: result exists for this checkpoint" if reused else f"copied: {copied}" if copied else ""
        timed(f"eval {stage}", status, t)
        if cfg.eval.sampled_pass1:
            t = time.time()
            eval_run.evaluate_sampled(cfg, stage, benchmarks=benchmarks)
            timed(f"eval {stage} sampled", "", t)
        release_memory()

    t = time.time()
    md, png = eval_report.write_report(cfg, timings)
    timed("report", "", t)
    timings["total"] = f"{time.time() - start:6.1f} s"

    print(f"\n{eval_report.markdown_table(results)}\n")
    console.print_summary(f"pipeline complete: {md} and {png}", timings)
    return results


TRAINING_STAGES = {"sft": sft.run, "dpo": dpo.run, "rlvr": rlvr.run}


def release_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


main = cli.stage_main(run, over_seeds=seeds.main)

if __name__ == "__main__":
    main()
