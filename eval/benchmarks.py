"""Benchmarks -> scoring rows: one small adapter per schema, the same loading code for hub ids and local files.

A scoring row is what the verifier library scores (CONTRACTS.md, "Scoring rows") plus the chat prompt to generate
from: `{"benchmark", "id", "dataset" (verifier), "ground_truth", "messages", "question"}`. `question` is the
benchmark's own text (without template or shots): decontamination compares it with the training data.

Schemas (`format` in conf/eval/*.yaml):
  rlvr       our RLVR rows (messages / ground_truth / dataset): the embedded held-out sets, data/loading.load_rlvr
  gsm8k      openai/gsm8k: question, answer ("... #### 72")                        -> verifier gsm8k
  math       MATH-500: problem, solution, answer                                   -> verifier math
  ifeval     google/IFEval: key, prompt, instruction_id_list, kwargs              -> verifier ifeval
  humaneval  openai_humaneval / HumanEval+: task_id, prompt, canonical_solution, test, entry_point -> verifier code
"""

from __future__ import annotations

import ast
import copy
import json
import re
from collections.abc import Callable
from pathlib import Path

from data.loading import DataError, installed_package_path, load_rlvr
from runtime.config import BENCHMARK_FORMATS
from runtime.layout import REPO_ROOT


def load_benchmark(bench, max_rows: int | None = None) -> list[dict]:
    """The scoring rows of one benchmark config (`BenchmarkConfig`), capped at max_rows (or bench.max_rows)."""
    if bench.format not in BENCHMARK_FORMATS:
        raise DataError(
            f"benchmark {bench.name}: unknown format {bench.format!r} (expected {', '.join(BENCHMARK_FORMATS)})"
        )
    limit = min(x for x in (max_rows, bench.max_rows, 10**12) if x is not None)
    if bench.format == "rlvr":
        source = {"path": bench.path, "split": bench.split, "subset": bench.subset, "max_rows": limit}
        rows = [
            {
                "question": row["prompt"][-1]["content"],
                "context": row["prompt"][:-1],
                "dataset": row["dataset"],
                "ground_truth": row["ground_truth"],
            }
            for row in load_rlvr([source])
        ]
    else:
        rows = [ADAPTERS[bench.format][0](raw) for raw in read_rows(bench.path, bench.split, bench.subset, limit)]
    shots = worked_examples(bench)
    return [
        {
            "benchmark": bench.name,
            "id": index if row.get("id") is None else row["id"],
            "dataset": row["dataset"],
            "ground_truth": row["ground_truth"],
            "messages": [
                *row.get("context", []),
                *shots,
                {"role": "user", "content": fill(bench.template, row["question"])},
            ],
            "question": row["question"],
        }
        for index, row in enumerate(rows)
    ]


def worked_examples(bench) -> list[dict]:
    """The few-shot turns: num_shots (question, worked answer) pairs from shots_path, as earlier chat turns."""
    if not bench.num_shots:
        return []
    to_shot = ADAPTERS.get(bench.format, (None, None))[1]
    if to_shot is None:
        raise DataError(f"benchmark {bench.name}: format {bench.format} has no worked examples (num_shots)")
    if not bench.shots_path:
        raise DataError(f"benchmark {bench.name}: num_shots={bench.num_shots} needs shots_path")
    shots = []
    for raw in read_rows(bench.shots_path, bench.shots_split, bench.subset, bench.num_shots):
        question, answer = to_shot(raw)
        shots += [{"role": "user", "content": fill(bench.template, question)}, {"role": "assistant", "content": answer}]
    return shots


def fill(template: str, question: str) -> str:
    return template.replace("{prompt}", question)  # not str.format: questions contain braces (LaTeX, code)


def read_rows(path: str, split: str, subset: str | None, limit: int) -> list[dict]:
    """Raw rows of a local .jsonl/.json/.parquet/.jsonl.gz file (embedded:NAME and package:PKG/FILE too) or a hub
    dataset split."""
    local = _local_path(path)
    if local is None:
        import datasets

        try:
            dataset = datasets.load_dataset(path, subset, split=split)
        except Exception as error:  # noqa: BLE001 -- offline, unknown id, missing split: all say the same
            raise DataError(
                f"benchmark data {path} ({subset or 'default'}, {split}) cannot be loaded: {error}. "
                "Offline (make's default), hub datasets must be in the HF cache: run once with "
                "OFFLINE=0, or point the benchmark's path at a local file in the same schema."
            ) from error
        return [dict(row) for row in dataset.select(range(min(limit, len(dataset))))]
    if local.suffix == ".parquet":
        import datasets

        dataset = datasets.load_dataset("parquet", data_files=str(local), split="train")
        return [dict(row) for row in dataset.select(range(min(limit, len(dataset))))]
    # JSON read by hand: Arrow would merge IFEval's per-instruction kwargs into one struct full of nulls
    if local.suffix == ".gz":
        import gzip

        text = gzip.decompress(local.read_bytes()).decode("utf-8")
    else:
        text = local.read_text(encoding="utf-8")
    rows = (
        json.loads(text)
        if text.lstrip().startswith("[")
        else [json.loads(line) for line in text.splitlines() if line.strip()]
    )
    return rows[:limit]


def _local_path(path: str) -> Path | None:
    if path.startswith("embedded:"):
        return REPO_ROOT / "data" / "embedded" / f"{path.removeprefix('embedded:')}.jsonl"
    if path.startswith("package:"):
        return installed_package_path(path.removeprefix("package:"))
    for candidate in (Path(path).expanduser(), REPO_ROOT / path):
        if candidate.exists():
            return candidate
    if Path(path).suffix in (".jsonl", ".json", ".parquet", ".gz"):
        raise DataError(f"{path}: no such file")
    return None  # a hub id


# ----------------------------------------------------------------------------------------------------------------
# Adapters: raw row of a real schema -> {"id", "question", "dataset", "ground_truth"}; worked example -> (q, a)


def gsm8k_row(raw: dict) -> dict:
    return {"question": raw["question"], "dataset": "gsm8k", "ground_truth": gsm8k_final_answer(raw["answer"])}


def gsm8k_final_answer(answer: str) -> str:
    if "####" not in answer:
        raise DataError(f"GSM8K answer without '#### <number>': {answer[-80:]!r}")
    return answer.rsplit("####", 1)[1].strip()


def gsm8k_shot(raw: dict) -> tuple[str, str]:
    steps, final = raw["answer"].rsplit("####", 1)
    steps = re.sub(r"<<[^>]*>>", "", steps).strip()  # GSM8K's calculator annotations
    return raw["question"], f"{steps}\nSo the answer is {final.strip()}."


def math_row(raw: dict) -> dict:
    return {"id": raw.get("unique_id"), "question": raw["problem"], "dataset": "math", "ground_truth": raw["answer"]}


def math_shot(raw: dict) -> tuple[str, str]:
    return raw["problem"], raw["solution"]


def ifeval_row(raw: dict) -> dict:
    # The hub copy lists every kwarg of every instruction with nulls for the unused ones; the checkers want only
    # the ones that are set.
    kwargs = [{k: v for k, v in (kw or {}).items() if v is not None} for kw in raw["kwargs"]]
    truth = {"instruction_id_list": list(raw["instruction_id_list"]), "kwargs": kwargs}
    return {"id": raw.get("key"), "question": raw["prompt"], "dataset": "ifeval", "ground_truth": json.dumps(truth)}


def humaneval_row(raw: dict) -> dict:
    """HumanEval's `check(candidate)` asserts become the code verifier's tests, `candidate` renamed to the entry
    point; the prompt's imports and helpers and the rest of the test module (imports, helpers, METADATA) become the
    setup."""
    truth = {"setup": humaneval_setup(raw), "tests": humaneval_tests(raw["test"], raw["entry_point"])}
    return {"id": raw["task_id"], "question": raw["prompt"], "dataset": "code", "ground_truth": json.dumps(truth)}


def humaneval_setup(raw: dict) -> str:
    """The prompt's imports and helper definitions (HumanEval/32's `poly`, /38's `encode_cyclic`: the tests call
    them, and they must mean the prompt's, not a redefinition in the response), then the test module but `check`."""
    prompt_context = [
        node
        for node in ast.parse(raw["prompt"]).body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        or (isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name != raw["entry_point"])
    ]
    test_module = [
        node for node in ast.parse(raw["test"]).body if not (isinstance(node, ast.FunctionDef) and node.name == "check")
    ]
    return "\n".join(ast.unparse(node) for node in [*prompt_context, *test_module])


def humaneval_tests(test: str, entry_point: str) -> list[str]:
    check = next(
        (node for node in ast.parse(test).body if isinstance(node, ast.FunctionDef) and node.name == "check"), None
    )
    if check is None:
        raise DataError(f"HumanEval test for {entry_point} has no check(candidate) function")
    argument = check.args.args[0].arg
    original = copy.deepcopy(check)

    class Rename(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.Name:
            return ast.Name(id=entry_point, ctx=node.ctx) if node.id == argument else node

    body = [
        Rename().visit(node)
        for node in check.body
        if not isinstance(node, ast.Expr) or not isinstance(node.value, ast.Constant)
    ]  # (docstrings are not tests)
    if all(isinstance(node, ast.Assert) for node in body):
        return [ast.unparse(node) for node in body]  # one test per assert: partial credit, auditable failures
    # Loops or helper statements between the asserts: the whole check is one test.
    return [f"{ast.unparse(original)}\ncheck({entry_point})"]


ADAPTERS: dict[str, tuple[Callable[[dict], dict], Callable[[dict], tuple[str, str]] | None]] = {
    "gsm8k": (gsm8k_row, gsm8k_shot),
    "math": (math_row, math_shot),
    "ifeval": (ifeval_row, None),
    "humaneval": (humaneval_row, None),
}

__all__ = ["load_benchmark", "read_rows", "ADAPTERS", "humaneval_tests", "gsm8k_final_answer"]
