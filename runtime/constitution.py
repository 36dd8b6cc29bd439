"""A constitution: the principles an LM judge rates against (runtime/judge.py) and a model revises its answers by
(runtime/constitutional.py), in plain text, with one worked judgement.

    conf/constitution/<name>.yaml (or a path): principles: [...], example: {request, responses, ratings, rationales,
    comparison} -> load_constitution -> Constitution; a file that does not parse, or lacks a key, is one line naming
    the file and the key (ConstitutionError), raised before any work
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from runtime.layout import REPO_ROOT
from runtime.lineage import content_hash

CONSTITUTIONS_DIR = REPO_ROOT / "conf" / "constitution"
# UltraFeedback's 1-5 scale, which Tülu 3's ratings are on
RATING_RANGE = (1, 5)


class ConstitutionError(SystemExit):
    """A constitution that cannot be used: one line naming the file and the key."""


@dataclass(frozen=True)
class Example:
    """A worked judgement, shown to the judge as earlier exchanges before every request."""

    request: str
    responses: tuple[str, str]
    ratings: tuple[int, int]  # pointwise: each response's rating (they differ: the higher one is the better)
    rationales: tuple[str, str]  # pointwise: why each got its rating
    comparison: str  # pairwise: why the better one is better

    @property
    def better(self) -> int:
        return 0 if self.ratings[0] > self.ratings[1] else 1


@dataclass(frozen=True)
class Constitution:
    name: str
    principles: tuple[str, ...]
    example: Example
    text: str = field(repr=False)  # the file as read: part of the judged data's identity

    @property
    def identity(self) -> str:
        """`name:sha256` of the text: what a stage trained on its judgements or revisions records."""
        return f"{self.name}:{content_hash(self.text)}"


EXAMPLE_KEYS = ("request", "responses", "ratings", "rationales", "comparison")


def load_constitution(name: str) -> Constitution:
    """conf/constitution/<name>.yaml, or a path; every problem is one line naming the file and the key."""
    candidates = [CONSTITUTIONS_DIR / f"{name}.yaml", Path(name).expanduser(), REPO_ROOT / name]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        known = ", ".join(sorted(p.stem for p in CONSTITUTIONS_DIR.glob("*.yaml")))
        raise ConstitutionError(f"judge.constitution={name!r}: no such file (conf/constitution/ has {known})")
    text = path.read_text("utf-8")
    try:
        raw = OmegaConf.to_container(OmegaConf.create(text))
    except Exception as error:  # noqa: BLE001 -- any YAML error: one line naming the file
        first_line = str(error).strip().splitlines()[0]
        raise ConstitutionError(f"{path}: not valid YAML ({type(error).__name__}: {first_line})") from None

    def fail(key: str, expected: str):
        raise ConstitutionError(f"{path}: {key}: expected {expected}")

    def texts(value, count=None) -> bool:
        return (
            isinstance(value, list)
            and bool(value)
            and (count is None or len(value) == count)
            and all(isinstance(v, str) and v.strip() for v in value)
        )

    if not isinstance(raw, dict):
        fail("(top level)", "a mapping with principles and example")
    unknown = set(raw) - {"principles", "example"}
    if unknown:
        fail(", ".join(sorted(unknown)), "no other keys than principles and example")
    if not texts(raw.get("principles")):
        fail("principles", "a non-empty list of non-empty strings")
    example = raw.get("example")
    if not isinstance(example, dict) or set(example) != set(EXAMPLE_KEYS):
        fail("example", f"a mapping with exactly these keys: {', '.join(EXAMPLE_KEYS)}")
    low, high = RATING_RANGE
    for key, check, expected in (
        ("request", lambda v: isinstance(v, str) and v.strip(), "a non-empty string"),
        ("responses", lambda v: texts(v, 2), "2 non-empty strings"),
        (
            "ratings",
            lambda v: isinstance(v, list) and len(v) == 2 and all(_valid_rating(r) for r in v) and v[0] != v[1],
            f"2 different whole ratings {low}..{high}",
        ),
        ("rationales", lambda v: texts(v, 2), "2 non-empty strings"),
        ("comparison", lambda v: isinstance(v, str) and v.strip(), "a non-empty string"),
    ):
        if not check(example[key]):
            fail(f"example.{key}", expected)
    return Constitution(
        name=path.stem,
        principles=tuple(p.strip() for p in raw["principles"]),
        example=Example(
            request=example["request"],
            responses=tuple(example["responses"]),
            ratings=tuple(example["ratings"]),
            rationales=tuple(r.strip() for r in example["rationales"]),
            comparison=example["comparison"].strip(),
        ),
        text=text,
    )


def _valid_rating(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and RATING_RANGE[0] <= value <= RATING_RANGE[1]
