"""A pass-rate curriculum: prompts the starting policy always or never solves teach GRPO nothing (every group of
theirs has one reward), so they are left out before training.

RLVR prompts -> `curriculum_prompts` of them (a seeded shuffle; 0 = all) -> `curriculum_samples` sampled answers
each from the starting policy (temperature `rlvr.temperature`, `max_completion_length` tokens, as training samples)
-> the verifiers' scores -> pass rate per prompt -> the prompts with 0 < pass rate < 1 (a finished answer counts;
one cut off scores 0, as the non-stop penalty treats it) -> the training set. The pass rates are cached under
<runs_dir>/_cache/pass_rates/ by the parent's content id, the data's content and these settings, so a rerun or
another seed of the same parent does not sample them again.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from rewards import reward_verifier
from rewards.process import problem_text
from runtime import files, generation
from runtime.lineage import content_hash


def probe_rows(size: int, prompts: int, seed: int) -> list[int]:
    """Which rows are probed: `prompts` of them in a seeded shuffle (all, in order, when 0 or more than there are)."""
    import torch

    if not prompts or prompts >= size:
        return list(range(size))
    return sorted(torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:prompts].tolist())


def pass_rates(model, tokenizer, rows: list[dict], pool, *, samples: int, temperature: float, max_new_tokens: int):
    """Per row, the share of `samples` sampled answers the row's verifier scores fully right (cut off = wrong)."""
    generations = generation.generate(
        model,
        tokenizer,
        [row["prompt"] for row in rows],
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        num_samples=samples,
        batch_size=256,
        desc="pass rates",
    )
    scored = pool.score_rows(
        [
            {
                "dataset": reward_verifier(row["dataset"]),
                "ground_truth": row["ground_truth"],
                "response": sample.text,
                "truncated": not sample.finished,
                "question": problem_text(row["prompt"]),
            }
            for row, answers in zip(rows, generations)
            for sample in answers
        ]
    )
    solved = [float(result.get("score") or 0.0) >= 1.0 for result in scored]
    return [statistics.fmean(solved[i * samples : (i + 1) * samples]) for i in range(len(rows))]


def select(dataset, cache_dir: Path, identity: dict, measure) -> tuple[object, dict]:
    """The rows of `dataset` whose pass rate is strictly between 0 and 1, and what the manifest records. `measure(rows)
    -> rates` runs only when the cache has no entry for `identity` (the parent, data and settings)."""
    start = time.perf_counter()
    rows = probe_rows(len(dataset), identity["prompts"], identity["seed"])
    path = Path(cache_dir) / f"{content_hash({**identity, 'rows': rows})}.json"
    cached = path.exists()
    if cached:
        rates = json.loads(path.read_text())["rates"]
    else:
        rates = measure([dataset[i] for i in rows])
        files.write_json(path, {"identity": identity, "rows": rows, "rates": rates})
    keep = [i for i, rate in zip(rows, rates) if 0 < rate < 1]
    if not keep:
        raise ValueError(
            f"rlvr.curriculum_samples: no probed prompt is solved sometimes but not always ({len(rows)} probed); "
            "probe more prompts or turn the curriculum off"
        )
    summary = {
        "probed": len(rows),
        "kept": len(keep),
        "never_solved": sum(rate == 0 for rate in rates),
        "always_solved": sum(rate == 1 for rate in rates),
        "mean_pass_rate": statistics.fmean(rates),
        "cached": cached,
        "seconds": time.perf_counter() - start,
        "cache": str(path),
    }
    took = "cached" if cached else f"{summary['seconds']:.1f} s"
    print(
        f"[rlvr] pass-rate curriculum: {len(keep)} of {len(rows)} probed prompts kept "
        f"({summary['never_solved']} never solved, {summary['always_solved']} always; {took})"
    )
    return dataset.select(keep), summary
