"""VerifierPool (batching, per-item hard timeouts, dead workers, malformed rows, truncation) and eval.score."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import assert_within

from rewards import VerifierPool, is_truncated, score_row
from rewards import pool as pool_module
from rewards._sandbox_child import NOBODY

REPO_ROOT = Path(__file__).resolve().parent.parent
HANG = "```python\nwhile True:\n    pass\n```"  # with a sandbox timeout above the pool's, only the pool can stop it
SLOW_CODE_TRUTH = {"tests": ["assert f(1) == 2"], "timeout_s": 30}


@pytest.fixture(scope="module")
def pool():
    with VerifierPool(num_workers=2, timeout_s=3.0) as verifier_pool:
        yield verifier_pool


def mixed_rows() -> list[dict]:
    return [
        {"id": 0, "dataset": "gsm8k", "ground_truth": "18", "response": "3 * 6 = 18\n#### 18"},
        {"id": 1, "dataset": "gsm8k", "ground_truth": "18", "response": "#### 17"},
        {"id": 2, "dataset": "math", "ground_truth": "\\frac{1}{2}", "response": "$\\boxed{0.5}$"},
        {"id": 3, "dataset": "math", "ground_truth": "3", "response": "\\boxed{9^{9^{9^9}}}"},
        {
            "id": 4,
            "dataset": "ifeval",
            "ground_truth": {"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
            "response": "no commas",
        },
        {
            "id": 5,
            "dataset": "code",
            "ground_truth": {"tests": ["assert f(2) == 4", "assert f(3) == 9"]},
            "response": "```python\ndef f(x):\n    return 2 * x\n```",
        },
        {"id": 6, "dataset": "string_match", "ground_truth": "paris", "response": "The answer is Paris."},
        {"id": 7, "dataset": ["gsm8k", "string_match"], "ground_truth": ["5", "five"], "response": "answer is 5"},
    ]


EXPECTED_SCORES = [1.0, 0.0, 1.0, 0.0, 1.0, 0.5, 1.0, 0.5]


def test_scores_in_order_with_fields_carried_through(pool):
    rows = mixed_rows()
    seen = []
    results = pool.score_rows(rows, on_result=lambda index, result: seen.append(index))
    assert [result["score"] for result in results] == EXPECTED_SCORES
    assert [result["id"] for result in results] == list(range(len(rows)))
    assert all("error" not in result and "timed_out" not in result for result in results)
    assert sorted(seen) == list(range(len(rows)))
    assert rows == mixed_rows()  # the input rows are not modified


def test_many_rows_are_batched_and_stay_in_order(pool):
    rows = [
        {"dataset": "gsm8k", "ground_truth": str(i), "response": f"#### {i if i % 3 else i + 1}"} for i in range(300)
    ]
    results = pool.score_rows(rows)
    assert [result["score"] for result in results] == [0.0 if i % 3 == 0 else 1.0 for i in range(300)]


@pytest.mark.parametrize(
    "row, message",
    [
        ([1, 2], "not a JSON object"),
        ({"dataset": "gsm8k", "response": "1"}, "missing field(s): ground_truth"),
        ({"dataset": "gsm8k", "ground_truth": "1", "response": None}, "response is not a string"),
        ({"dataset": "nope", "ground_truth": "1", "response": "1"}, "unknown verifier"),
        ({"dataset": {"name": "math"}, "ground_truth": "1", "response": "1"}, "unknown verifier"),
        ({"dataset": [["math"]], "ground_truth": ["1"], "response": "1"}, "unknown verifier"),
        ({"dataset": ["gsm8k", "math"], "ground_truth": "1", "response": "1"}, "list of ground truths"),
        ({"dataset": "gsm8k", "ground_truth": "three", "response": "#### 3"}, "ValueError"),
        (
            {"dataset": "ifeval", "ground_truth": "{", "response": "x"},
            "ValueError: ifeval ground truth is neither JSON",
        ),
        ({"dataset": "code", "ground_truth": {"tests": []}, "response": "x"}, "ValueError"),
    ],
)
def test_malformed_rows_score_zero_with_an_error(pool, row, message):
    good = mixed_rows()[0]
    before = pool.stats["errors"]
    results = pool.score_rows([good, row, good])
    assert results[1]["score"] == 0.0 and message in results[1]["error"]
    assert results[0]["score"] == results[2]["score"] == 1.0
    assert pool.stats["errors"] == before + 1


def test_truncated_rows_score_zero_without_verification(pool):
    correct = {"dataset": "gsm8k", "ground_truth": "18", "response": "#### 18"}
    results = pool.score_rows(
        [{**correct, "truncated": True}, {**correct, "finish_reason": "length"}, {**correct, "truncated": False}]
    )
    assert [result["score"] for result in results] == [0.0, 0.0, 1.0]
    assert is_truncated([5, 7, 2], eos_token_id=2) is False
    assert is_truncated([5, 7, 9], eos_token_id=2) is True
    assert is_truncated([5, 7, 3], eos_token_id=[2, 3]) is False
    assert is_truncated([], eos_token_id=2) is True
    assert is_truncated([5, 2, 0, 0], eos_token_id=2, pad_token_id=0) is False


def _sandbox_processes() -> list[int]:
    out = subprocess.run(["ps", "-u", str(NOBODY), "-o", "pid="], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


@pytest.mark.timing
def test_an_overrunning_item_times_out_and_the_rest_still_score(pool):
    before, sandboxes_before = dict(pool.stats), set(_sandbox_processes())
    rows = mixed_rows() + [{"dataset": "code", "ground_truth": SLOW_CODE_TRUTH, "response": HANG}] + mixed_rows()
    start = time.monotonic()
    results = pool.score_rows(rows)
    assert_within(time.monotonic() - start, 3.0 + 8)  # the pool's timeout, plus scoring the others and a restart
    hung = results[len(mixed_rows())]
    assert hung["score"] == 0.0 and hung["timed_out"] is True and "error" not in hung
    assert [result["score"] for result in results if not result.get("timed_out")] == EXPECTED_SCORES * 2
    assert pool.stats["timeouts"] == before["timeouts"] + 1
    assert pool.stats["worker_restarts"] == before["worker_restarts"] + 1
    # the killed worker's sandbox died with it (other suites' short sandboxes may come and go meanwhile)
    left = set(_sandbox_processes()) - sandboxes_before
    deadline = time.monotonic() + 10
    while left & set(_sandbox_processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left & set(_sandbox_processes())
    assert [result["score"] for result in pool.score_rows(mixed_rows())] == EXPECTED_SCORES  # still usable


def test_a_worker_that_dies_marks_its_item_and_the_rest_still_score(pool):
    slow = {
        "dataset": "code",
        "ground_truth": {"tests": ["assert f(1) == 2"], "timeout_s": 2},
        "response": "```python\nimport time\ntime.sleep(30)\n```",
    }

    def kill_a_busy_worker():
        time.sleep(0.5)
        for worker in pool._workers:
            if worker.batch:
                worker.process.kill()

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    results = pool.score_rows([slow] + mixed_rows())
    killer.join()
    assert results[0]["score"] == 0.0 and results[0]["error"] == "verifier worker died"
    assert [result["score"] for result in results[1:]] == EXPECTED_SCORES


def test_usable_from_another_thread(pool):
    results = []
    thread = threading.Thread(target=lambda: results.extend(pool.score_rows(mixed_rows())))
    thread.start()
    thread.join()
    assert [result["score"] for result in results] == EXPECTED_SCORES


def test_score_row_uses_the_default_pool(pool, monkeypatch):
    monkeypatch.setattr(pool_module, "_default_pool", pool)
    assert score_row({"dataset": "math", "ground_truth": "2", "response": "\\boxed{2}"})["score"] == 1.0


def test_closed_pool_refuses_work():
    closed = VerifierPool(num_workers=1)
    closed.close()
    with pytest.raises(RuntimeError):
        closed.score_rows(mixed_rows()[:1])


def test_score_command(tmp_path):
    lines = [json.dumps(row) for row in mixed_rows()]
    lines[3:3] = ["this line is not JSON", "", json.dumps({"dataset": "gsm8k", "response": "1"})]
    source, target = tmp_path / "generations.jsonl", tmp_path / "scored.jsonl"
    source.write_text("\n".join(lines) + "\n")
    run = subprocess.run(
        [sys.executable, "-m", "eval.score", str(source), "-o", str(target), "--workers", "1"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert run.returncode == 0, run.stderr
    scored = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(scored) == len(mixed_rows()) + 2
    assert scored[3]["score"] == 0.0 and scored[3]["error"].startswith("line 4: not valid JSON")
    assert scored[4]["score"] == 0.0 and scored[4]["error"] == "line 6: missing field(s): ground_truth"
    assert [row["score"] for row in scored if "error" not in row] == EXPECTED_SCORES
    summary = run.stdout
    assert "gsm8k" in summary and "errors" in summary and "timeouts" in summary
    gsm8k_line = next(line for line in summary.splitlines() if line.startswith("gsm8k "))
    assert gsm8k_line.split()[1:] == ["3", "0.333", "0", "1"]  # n, mean, timeouts, errors
    assert "scoring" in run.stderr  # the progress bar


def test_score_command_never_stops_the_file_on_bad_encoding(tmp_path):
    """A byte-order mark, a lone surrogate escape and a line of invalid UTF-8: each row gets its own verdict and the
    file goes on (the first version wrote 1 of 3 rows, or nothing at all)."""
    good = {"dataset": "gsm8k", "ground_truth": "5", "response": "The answer is 5."}
    surrogate = '{"dataset": "gsm8k", "ground_truth": "5", "response": "\\ud800 The answer is 5."}'
    source, target = tmp_path / "generations.jsonl", tmp_path / "scored.jsonl"
    source.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps(good).encode()
        + b"\n"
        + surrogate.encode()
        + b"\n"
        + b'{"dataset": "gsm8k", "ground_truth": "5", "response": "\xff\xfe 5"}\n'
        + json.dumps(good).encode()
        + b"\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "eval.score", str(source), "-o", str(target), "--workers", "1"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert run.returncode == 0, run.stderr
    scored = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [row["score"] for row in scored] == [1.0, 1.0, 0.0, 1.0]
    assert scored[1]["response"] == "\ud800 The answer is 5."  # the same text comes back out
    assert scored[2]["error"] == "line 3: not valid UTF-8 (byte 0xff at column 56)"


def test_each_training_process_on_a_node_gets_its_share_of_the_cpus_for_verifiers(monkeypatch):
    from rewards import pool

    monkeypatch.setattr(pool.os, "sched_getaffinity", lambda pid: set(range(96)))
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert pool.default_workers() == 96
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")  # accelerate launch --num_processes 8
    assert pool.default_workers() == 12
    monkeypatch.setattr(pool.os, "sched_getaffinity", lambda pid: {0, 1})
    assert pool.default_workers() == 1
