"""Atomic writes: a file or directory is written under a temporary name beside its target and renamed into place,
so a reader (or a resumed run) never finds a half-written one. Every result the pipeline writes goes through here.

    with atomic(path) as tmp: ...write tmp...     file or directory; renamed onto `path` when the block succeeds
    write_json(path, payload), write_jsonl(path, rows), write_text(path, text)
    save_checkpoint(model, tokenizer, directory)    a cached base model, first writer wins
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


def staging_path(target: Path, per_process: bool = True) -> Path:
    """The temporary sibling `target` is written to: `.<name>.<pid>.tmp`, or `.<name>.tmp` (per_process=False) when
    every rank of a multi-process launch must name the same directory."""
    target = Path(target)
    return target.with_name(f".{target.name}.{os.getpid()}.tmp" if per_process else f".{target.name}.tmp")


def discard(path: Path) -> None:
    if Path(path).is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        Path(path).unlink(missing_ok=True)


def move_into_place(staging: Path, target: Path, keep_existing: bool = False) -> Path:
    """Rename a fully written `staging` onto `target`. A directory that is replaced is first moved aside (a rename
    cannot replace a non-empty one), so a reader finds the old one, the new one, or for an instant none, never a
    half-written one. keep_existing: when `target` exists (another process got there first with the same content: a
    cache entry), keep it and drop ours."""
    target = Path(target)
    if target.exists() and keep_existing:
        discard(staging)
    elif target.is_dir():
        old = target.with_name(f".{target.name}.{os.getpid()}.old")
        discard(old)
        os.replace(target, old)
        os.replace(staging, target)
        discard(old)
    else:
        try:
            os.replace(staging, target)
        except OSError:  # a directory appeared at `target` meanwhile (a concurrent writer of a cache entry)
            if not keep_existing:
                raise
            discard(staging)
    return target


@contextlib.contextmanager
def atomic(target: Path, keep_existing: bool = False) -> Iterator[Path]:
    """Yield the path to write `target` to (a file or a directory); it is moved into place when the block succeeds
    and removed when it fails."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_path(target)
    discard(staging)
    try:
        yield staging
    except BaseException:
        discard(staging)
        raise
    move_into_place(staging, target, keep_existing=keep_existing)


def save_checkpoint(model, tokenizer, target: Path) -> Path:
    """A model + tokenizer written to `target` as a Hugging Face checkpoint directory, atomically; a base model built
    or converted once and cached: when another process wrote the same one first, its copy wins."""
    with atomic(Path(target), keep_existing=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return Path(target)


def write_text(path: Path, text: str) -> None:
    with atomic(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, payload: dict) -> None:
    write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """One JSON object per line."""
    with atomic(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
