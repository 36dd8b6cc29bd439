"""`make pipeline` end to end with a budget of seconds per stage: every manifest, every eval result, the report; a
second run with the same run_name reuses what is complete; a changed SFT config retrains SFT and everything after it."""

from __future__ import annotations

import json

from helpers import REPO_ROOT, compose

# A few steps per stage on slices of the embedded data, a few prompts per benchmark.
TINY_BUDGET = [
    "logging=none",
    "data.sft=[{path: 'embedded:sft_train', max_rows: 64}]",
    "sft.max_steps=3",
    "sft.per_device_train_batch_size=16",
    # (on-policy pairs need a model that sometimes gets an answer right: 3 SFT steps do not make one)
    "dpo.pairs=offline",
    "data.preference.0.max_rows=16",
    "dpo.max_steps=2",
    "dpo.per_device_train_batch_size=4",
    "data.rlvr.0.max_rows=16",
    "rlvr.max_steps=2",
    "rlvr.num_generations=2",
    "rlvr.per_device_train_batch_size=4",
    "rlvr.max_completion_length=16",
    "eval.max_rows=6",
    "eval.max_new_tokens=16",
    "eval.num_workers=1",
]


def test_pipeline_end_to_end_then_reuses_what_is_complete_and_redoes_what_changed(runs_dir, capsys):
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
    assert str(runs_dir) not in report and str(REPO_ROOT) not in report  # run- and repository-relative paths
    assert "pipeline complete" in capsys.readouterr().out

    # Same run_name again: every stage and every eval is reused, the report is rewritten.
    pipeline.run(cfg)
    out = capsys.readouterr().out
    for stage in ("sft", "dpo", "rlvr"):
        assert f"[{stage}] {run / stage} is complete, with the same parent" in out
    assert out.count("up to date for this checkpoint; skipping") == 4
    assert out.count("reused: same parent and config") == 3

    # Another SFT config in the same run: SFT is trained again, and so are DPO and RLVR (their parents' content
    # changed), and every eval but the base model's.
    pipeline.run(compose([f"runs_dir={runs_dir}", "run_name=pipe", *TINY_BUDGET, "sft.learning_rate=1e-3"]))
    out = capsys.readouterr().out
    assert f"[sft] {run / 'sft'} was trained with another config (sft.learning_rate: 0.0015 -> 0.001)" in out
    for stage in ("dpo", "rlvr"):
        assert f"[{stage}] {run / stage} was trained from another parent" in out
    assert out.count("up to date for this checkpoint; skipping") == 1 and out.count("reused: same parent") == 0
    rlvr = json.loads((run / "rlvr" / "manifest.json").read_text())
    assert rlvr["parent_id"] == json.loads((run / "dpo" / "manifest.json").read_text())["id"]
