"""Where things are: the repository's own places (conf/, .cache/) and the run directory a stage writes,

runs/<run_name>/{sft,dpo,rlvr}/   a checkpoint + manifest.json (written last: the stage is complete)
runs/<run_name>/work/<stage>/     the trainer's intermediate checkpoints, for resuming
runs/<run_name>/eval/, report.md  the eval suite's results
runs/<run_name>-s<seed>/          with seeds=[...]: one run per seed, and runs/<run_name>-seeds/ their report
runs/_cache/<kind>/                what runs share, by content: DPO's reference log-probs, RLVR's pass rates, eval
                                  results and decontamination reports, each under a key of what it depends on
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_dir(cfg: DictConfig) -> Path:
    return Path(cfg.runs_dir) / cfg.run_name


def seed_run_name(run_name: str, seed: int) -> str:
    """The run of one seed when seeds are an axis (`seeds=[42,2,7]`)."""
    return f"{run_name}-s{seed}"


def seeds_dir(cfg: DictConfig) -> Path:
    """The seeds report of `seeds=[...]`: report.md, report.png, seeds.json."""
    return Path(cfg.runs_dir) / f"{cfg.run_name}-seeds"


def shared_cache(cfg: DictConfig, kind: str) -> Path:
    """Results every run under runs_dir may reuse, each under a key that covers everything it depends on."""
    return Path(cfg.runs_dir) / "_cache" / kind


def stage_dir(cfg: DictConfig, stage: str) -> Path:
    return run_dir(cfg) / stage


def work_dir(cfg: DictConfig, stage: str) -> Path:
    """Where the trainer writes intermediate checkpoints; the final checkpoint is runs/<run>/<stage>/."""
    return run_dir(cfg) / "work" / stage


def read_manifest(checkpoint: Path) -> dict | None:
    path = Path(checkpoint) / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def is_complete(checkpoint: Path) -> bool:
    manifest = read_manifest(checkpoint)
    return bool(manifest) and manifest.get("status") == "complete"


def display_path(path: Path | str, cfg: DictConfig) -> str:
    """A checkpoint as a reader of the run should see it: relative to the run directory or the repository (the
    embedded default's cache), never this machine's absolute path; a hub id as is."""
    resolved = Path(path).resolve()
    for root in (run_dir(cfg).resolve(), REPO_ROOT):
        if resolved.is_relative_to(root):
            return str(resolved.relative_to(root))
    return str(path)
