"""`make pipeline` end to end with a budget of seconds per stage: every manifest, every eval result, the report; a
second run with the same run_name skips what is complete."""

from __future__ import annotations

import json

from conftest import compose

# A few steps per stage on slices of the embedded data, a few prompts per benchmark.
TINY_BUDGET = [
    "logging=none",
    "data.sft=[{path: 'embedded:sft_train', max_rows: 64}]", "sft.max_steps=3", "sft.per_device_train_batch_size=16",
    # (on-policy pairs need a model that sometimes gets an answer right: 3 SFT steps do not make one)
    "dpo.pairs=offline", "data.preference.0.max_rows=16", "dpo.max_steps=2", "dpo.per_device_train_batch_size=4",
    "data.rlvr.0.max_rows=16", "rlvr.max_steps=2", "rlvr.num_generations=2", "rlvr.per_device_train_batch_size=4",
    "rlvr.max_completion_length=16",
    "eval.max_rows=6", "eval.max_new_tokens=16", "eval.num_workers=1",
]


def test_pipeline_end_to_end_then_skips_what_is_complete(runs_dir, capsys):
    from stages import pipeline

    cfg = compose([f"runs_dir={runs_dir}", "run_name=pipe", *TINY_BUDGET])
    results = pipeline.run(cfg)

    run = runs_dir / "pipe"
    for stage in ("sft", "dpo", "rlvr"):
        manifest = json.loads((run / stage / "manifest.json").read_text())
        assert manifest["status"] == "complete" and manifest["stage"] == stage
    assert json.loads((run / "dpo" / "manifest.json").read_text())["parent"] == str(run / "sft")
    assert json.loads((run / "rlvr" / "manifest.json").read_text())["parent"] == str(run / "dpo")
    for stage in ("base", "sft", "dpo", "rlvr"):
        result = json.loads((run / "eval" / f"{stage}.json").read_text())
        assert result["stage"] == stage and set(result["benchmarks"]) == {"gsm8k", "math", "ifeval"}
        assert all(b["n"] == 6 for b in result["benchmarks"].values())
        assert (run / "eval" / f"{stage}.generations.jsonl").exists()
        assert results[stage]["average"] == result["average"]
    report = (run / "report.md").read_text()
    assert "| benchmark (n) | base | sft | dpo | rlvr |" in report and "| gsm8k (6) |" in report
    assert (run / "report.png").stat().st_size > 5000
    assert "pipeline complete" in capsys.readouterr().out

    # Same run_name again: every stage and every eval is skipped, the report is rewritten.
    pipeline.run(cfg)
    out = capsys.readouterr().out
    for stage in ("sft", "dpo", "rlvr"):
        assert f"[{stage}] {run / stage} is already complete; skipping" in out
    assert out.count("up to date for this checkpoint; skipping") == 4
    assert out.count("skipped: checkpoint complete") == 3
