"""What a checkpoint is, by content, and what else decides its numbers.

A published stage checkpoint carries its `id` in its manifest (checkpoints.StageRecord.publish hashes what it wrote);
any other directory is hashed on demand; a hub id is named by the commit of its cached copy. A stage records its
parent's id and its own config hash, and reuses a checkpoint only when both match (checkpoints.StageRecord.reusable)."""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

from runtime.layout import REPO_ROOT


def content_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def source_id(path: Path | str) -> str:
    """A source file by content: the stages whose data its code decides record it (the judge, the constitutional
    revisions)."""
    return content_hash(Path(path).read_text("utf-8"))


def checkpoint_id(path: Path | str, revision: str | None = None) -> str:
    """A checkpoint by content: its manifest's `id` when a stage published it, else the hash of its files (a base
    model directory), else, for a hub id, `<repo>@<commit>` of the copy in the local cache."""
    directory = Path(path)
    if directory.is_dir():
        manifest = directory / "manifest.json"
        published = json.loads(manifest.read_text()).get("id") if manifest.exists() else None
        return published or directory_hash(directory)
    from huggingface_hub import snapshot_download

    try:
        snapshot = Path(snapshot_download(str(path), revision=revision, local_files_only=True))
    except Exception:  # noqa: BLE001 -- not in the cache (or not a hub id): name it by what was asked for
        return f"{path}@{revision or 'default'}"
    return f"{path}@{snapshot.name}"


def directory_hash(directory: Path) -> str:
    """sha256 over every file's relative path and bytes (manifest.json aside), in 8 MiB chunks: ~1 s per GB."""
    directory = Path(directory)
    files = [(path, path.stat()) for path in sorted(directory.rglob("*")) if path.is_file()]
    stats = tuple((str(path), stat.st_size, stat.st_mtime_ns) for path, stat in files)
    return _directory_hash(directory, stats)


@functools.cache
def _directory_hash(directory: Path, stats: tuple) -> str:  # `stats` keys the cache: a rewritten file is re-read
    digest = hashlib.sha256()
    for name, _, _ in stats:
        path = Path(name)
        if path.name == "manifest.json" and path.parent == directory:
            continue
        digest.update(str(path.relative_to(directory)).encode() + b"\0")
        with path.open("rb") as handle:
            while chunk := handle.read(8 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:20]


def environment() -> dict:
    """What decides the numbers besides config and data: library versions, threads, device and CPU kernels."""
    import platform

    import torch
    import transformers
    import trl

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({platform.machine()})",
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
    }


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True).stdout
    return out.stdout.strip() + ("-dirty" if dirty.strip() else "")
