"""Decontamination: n-gram overlap between the run's training data and each benchmark, checked before scoring.

The criterion is Tülu 3's (Lambert et al. 2024, arXiv:2411.15124, §3.3 "Prompt decontamination", as implemented in
open-instruct's decontamination/ scripts): 8-gram matching; a test instance counts as contaminated when more than
50% of its tokens are covered by 8-grams it shares with one and the same training instance. Tülu 3 removed training
sets (or their contaminated rows) that overlapped a benchmark; here the eval refuses to score a benchmark whose
share of contaminated prompts exceeds its limit (action=error), or flags it loudly in the log and the result JSON
(action=warn). The limit is the benchmark's own `max_contaminated` where set (templated embedded sets share
wording with training rows by construction and need a looser one than real benchmarks), else
`eval.decontamination.max_contaminated`; the report names the rule that applied.

Fast enough for the embedded data with plain hash sets: every training row's n-grams go into one dict
n-gram -> row ids; a test prompt looks up its n-grams, counts hits per training row and measures the exact token
coverage only for the few rows with the most hits.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable

TOKEN = re.compile(r"\w+|[^\w\s]")  # words and single punctuation marks, lower-cased: what a tokenizer-free match needs
CANDIDATES = 5  # training rows per test prompt whose coverage is measured exactly (those with the most shared n-grams)


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def ngrams(toks: list[str], n: int) -> list[int]:
    """Hashes of the n-grams of a token list; a text shorter than n is one n-gram (an exact match is required)."""
    if len(toks) < n:
        return [hash(tuple(toks))] if toks else []
    return [hash(tuple(toks[i : i + n])) for i in range(len(toks) - n + 1)]


class NgramIndex:
    """Every training row's n-grams -> the rows that contain them."""

    def __init__(self, texts: Iterable[str], n: int):
        self.n = n
        self.rows: dict[int, list[int]] = defaultdict(list)
        self.size = 0
        for row_id, text in enumerate(texts):
            for gram in set(ngrams(tokens(text), n)):
                self.rows[gram].append(row_id)
            self.size += 1

    def coverage(self, text: str) -> tuple[float, int | None]:
        """(fraction of the text's tokens covered by n-grams shared with one training row, that row)."""
        toks = tokens(text)
        grams = ngrams(toks, self.n)
        if not grams:
            return 0.0, None
        hits = Counter(row for gram in grams for row in self.rows.get(gram, ()))
        best, best_row = 0.0, None
        for row, _ in hits.most_common(CANDIDATES):
            covered = set()
            for start, gram in enumerate(grams):
                if row in self.rows.get(gram, ()):
                    covered.update(range(start, start + min(self.n, len(toks))))
            fraction = len(covered) / len(toks)
            if fraction > best:
                best, best_row = fraction, row
        return best, best_row


# The data sections a stage learns from, and the columns of their rows that hold text.
TRAINING_KINDS = {
    "sft": ("messages",),
    "preference": ("prompt", "chosen", "rejected"),
    "rlvr": ("prompt", "ground_truth"),
}


def training_texts(cfg) -> list[tuple[str, str]]:
    """(source name, text) of every training row of the run: SFT conversations, preference prompts + both
    responses, RLVR prompts + ground truths — everything a stage learns from."""
    from data.loading import load_preference, load_rlvr, load_sft

    loaders = {"sft": load_sft, "preference": load_preference, "rlvr": load_rlvr}
    texts = []
    for kind, columns in TRAINING_KINDS.items():
        if not cfg.data[kind]:
            continue
        for index, row in enumerate(loaders[kind](cfg.data[kind])):
            parts = [
                m["content"] for c in columns for m in (row[c] if isinstance(row[c], list) else [{"content": row[c]}])
            ]
            texts.append((f"{kind}[{index}]", "\n".join(parts)))
    return texts


def check(cfg, benchmarks: dict[str, list[dict]], settings) -> dict:
    """The overlap report of every benchmark against the run's training data; raises ContaminationError when a
    benchmark is above the threshold and settings.action == "error"."""
    if settings.action == "off":
        return {"action": "off"}
    start = time.time()
    train = training_texts(cfg)
    index = NgramIndex((text for _, text in train), settings.ngram)
    report = {
        "ngram": settings.ngram,
        "instance_threshold": settings.instance_threshold,
        "max_contaminated": settings.max_contaminated,
        "action": settings.action,
        "training_rows": index.size,
        "benchmarks": {},
    }
    flagged = []
    limits = {bench.name: bench.max_contaminated for bench in cfg.eval.benchmarks}
    for name, rows in benchmarks.items():
        contaminated = []
        for row in rows:
            fraction, train_row = index.coverage(row["question"])
            if fraction > settings.instance_threshold:
                contaminated.append({"id": row["id"], "coverage": round(fraction, 3), "train": train[train_row][0]})
        share = len(contaminated) / max(len(rows), 1)
        own_limit = limits.get(name)
        limit = settings.max_contaminated if own_limit is None else own_limit
        rule = (
            f"eval.benchmarks[{name}].max_contaminated"
            if own_limit is not None
            else "eval.decontamination.max_contaminated"
        )
        report["benchmarks"][name] = {
            "n": len(rows),
            "contaminated": len(contaminated),
            "fraction": round(share, 4),
            "max_contaminated": limit,
            "rule": rule,
            "examples": contaminated[:5],
        }
        if share > limit:
            flagged.append(
                f"{name}: {len(contaminated)}/{len(rows)} prompts ({share:.1%}, above {rule}={limit:.0%}) "
                f"overlap the training data (> {settings.instance_threshold:.0%} of their tokens in shared "
                f"{settings.ngram}-grams), e.g. {contaminated[0]['id']} ~ {contaminated[0]['train']}"
            )
    report["seconds"] = round(time.time() - start, 2)
    report["flagged"] = flagged
    if flagged:
        message = "CONTAMINATION: " + "; ".join(flagged)
        if settings.action == "error":
            raise ContaminationError(
                message + " -- refusing to score (eval.decontamination.action=warn scores anyway)", report
            )
        print(f"\n{'!' * 100}\n{message}\n{'!' * 100}\n", file=sys.stderr)
    return report


class ContaminationError(RuntimeError):
    """A benchmark overlaps the training data beyond eval.decontamination.max_contaminated; carries the report."""

    def __init__(self, message: str, report: dict):
        super().__init__(message)
        self.report = report
