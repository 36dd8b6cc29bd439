"""Score a file of generations: `python -m eval.score IN.jsonl -o OUT.jsonl` (docs/interfaces.md,
"Scoring rows").

Each input line is a row {"dataset", "ground_truth", "response", ...}; each output line is that row plus "score"
(and "error" / "timed_out" when relevant), in input order. A malformed row, or a line that is not JSON at all, gets
score 0 and an error naming its line number; the run always goes on. A per-verifier summary goes to stdout, the
progress bar to stderr.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

from tqdm import tqdm

from rewards import DEFAULT_TIMEOUT_S, VerifierPool
from runtime import files

CHUNK_ROWS = 2048  # rows in memory at a time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.score", description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path, help="JSONL file of generations")
    parser.add_argument("-o", "--output", type=Path, required=True, help="JSONL file to write the scored rows to")
    parser.add_argument("--workers", type=int, default=None, help="verifier processes (default: one per core)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="hard limit per row, seconds")
    args = parser.parse_args(argv)

    with args.input.open("rb") as handle:
        total = sum(1 for line in handle if line.strip())
    summary = collections.defaultdict(collections.Counter)
    # A lone surrogate in a row ("\\ud800" in its JSON) comes back out as the same JSON escape, not as a crash.
    with (
        VerifierPool(num_workers=args.workers, timeout_s=args.timeout) as pool,
        files.atomic(args.output) as staging,  # a run stopped half-way leaves no file that looks scored
        staging.open("w", encoding="utf-8", errors="backslashreplace") as out,
        tqdm(total=total, desc="scoring", unit="row", file=sys.stderr) as progress,
    ):
        for chunk in _chunks(_read_lines(args.input), CHUNK_ROWS):
            parsed = [(line_number, row) for line_number, row in chunk if not isinstance(row, _NotJson)]
            scored = pool.score_rows([row for _, row in parsed], on_result=lambda *_: progress.update())
            results = dict(zip((line_number for line_number, _ in parsed), scored))
            for line_number, row in chunk:
                result = results.get(line_number)
                if result is None:
                    result = {"score": 0.0, "error": row.reason, "line": row.text[:200]}
                    progress.update()
                if "error" in result:
                    result["error"] = f"line {line_number}: {result['error']}"
                out.write(json.dumps(result, ensure_ascii=False) + "\n")
                _count(summary, result)
    print(format_summary(summary))
    return 0


class _NotJson:
    def __init__(self, text: str, reason: str):
        self.text, self.reason = text, reason


def _read_lines(path: Path):
    """(line number, parsed row or _NotJson) for every non-blank line. A line that is not UTF-8 is a malformed row
    like any other; a byte-order mark at the start of the file is not part of the first row."""
    with path.open("rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            if line_number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield (
                    line_number,
                    _NotJson(
                        raw.decode("utf-8", "replace").rstrip("\n"),
                        f"not valid UTF-8 (byte {raw[error.start]:#04x} at column {error.start + 1})",
                    ),
                )
                continue
            try:
                yield line_number, json.loads(line)
            except ValueError as error:
                yield line_number, _NotJson(line.rstrip("\n"), f"not valid JSON ({error})")


def _chunks(items, size):
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _count(summary, result: dict) -> None:
    dataset = result.get("dataset") if isinstance(result.get("dataset"), (str, list)) else None
    name = "+".join(map(str, dataset)) if isinstance(dataset, list) else (dataset or "(invalid)")
    counts = summary[name]
    counts["n"] += 1
    counts["score"] += float(result.get("score") or 0.0)
    counts["timeouts"] += bool(result.get("timed_out"))
    counts["errors"] += "error" in result


def format_summary(summary) -> str:
    header = f"{'verifier':<24} {'n':>7} {'mean':>7} {'timeouts':>9} {'errors':>7}"
    lines = [header, "-" * len(header)]
    for name in sorted(summary):
        counts = summary[name]
        mean = counts["score"] / counts["n"] if counts["n"] else 0.0
        lines.append(f"{name:<24} {counts['n']:>7} {mean:>7.3f} {counts['timeouts']:>9} {counts['errors']:>7}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
