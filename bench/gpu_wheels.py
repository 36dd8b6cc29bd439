"""`make gpu-wheels`: the wheels a GPU machine without network needs to run `make gpu-bench` / `make gpu-check`, and
no more: a machine that lends a GPU for minutes takes a few tens of MiB per call, and `make wheels` (everything this
venv runs) is several times that.

    # on the GPU machine (it has torch, maybe more):  python3 -m pip freeze > target-freeze.txt
    make gpu-wheels TARGET_FREEZE=target-freeze.txt         # here: .whl-gpu/ + its size, at most 64 MiB
    # there:  python3 -m pip install --no-index --no-deps --target /tmp/site .whl-gpu/*.whl
    #         PYTHONPATH=/tmp/site:. python3 bench/gpu_bench.py

What goes: the runtime requirements of this project (pyproject.toml's dependencies, followed through every installed
package's own requirements, extras aside) at the versions installed here, minus torch and what comes with it, minus
the packages the bench never imports (--skip; default wandb and deepspeed: the bench logs nowhere and runs one
process), minus what the target's freeze already holds at a version every requirement on it accepts (an H200
image's freeze: bench/configs/h200_freeze.txt). A package PyPI has only as source is
built into a wheel here. More than --limit-mib is an error naming the largest wheels.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parent.parent
# torch is on the GPU machine already, with the CUDA libraries and triton it was built against
ALREADY_WITH_TORCH = re.compile(r"^(torch|triton|nvidia-.*|cuda-.*)$")
WHEEL_TAGS = [
    "--only-binary=:all:",
    "--implementation",
    "cp",
    *[
        arg
        for platform in ("manylinux_2_28", "manylinux_2_27", "manylinux_2_17", "manylinux2014", "manylinux1")
        for arg in ("--platform", f"{platform}_x86_64")
    ],
]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure(skip: set[str], specifiers: dict[str, list] | None = None) -> dict[str, str]:
    """{package: installed version} of every package the project's dependencies need, transitively; `specifiers`,
    if given, collects {package: [the version specifier of each requirement on it]}."""
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    needed: dict[str, str] = {}
    pending = [Requirement(spec) for spec in declared]
    while pending:
        requirement = pending.pop()
        name = canonical(requirement.name)
        if specifiers is not None:
            specifiers.setdefault(name, []).append(requirement.specifier)
        if name in needed or name in skip or ALREADY_WITH_TORCH.match(name):
            continue
        distribution = importlib.metadata.distribution(requirement.name)
        needed[name] = distribution.version
        for spec in distribution.requires or []:
            dependency = Requirement(spec)
            if dependency.marker is None or dependency.marker.evaluate({"extra": ""}):
                pending.append(dependency)
    return needed


def usable_there(name: str, version: str | None, specifiers: dict[str, list]) -> bool:
    """The target holds `name` at a version every requirement on it accepts (the closure's own, read from the
    versions installed here): it need not travel, even at another version than ours."""
    if version is None:
        return False
    return all(spec.contains(version, prereleases=True) for spec in specifiers.get(name, []))


def target_packages(freeze: Path | None) -> dict[str, str]:
    if freeze is None:
        return {}
    pinned = {}
    for line in freeze.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pinned[canonical(name)] = version.strip()
    return pinned


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target-freeze", type=Path, help="`pip freeze` of the GPU machine (else: carry it all)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / ".whl-gpu")
    parser.add_argument("--skip", default="wandb,deepspeed", help="packages (and what only they need) left out")
    parser.add_argument("--python-version", default="3.12")
    parser.add_argument("--limit-mib", type=float, default=64.0)
    parser.add_argument("--dry-run", action="store_true", help="list what would be carried; download nothing")
    args = parser.parse_args(argv)

    specifiers: dict[str, list] = {}
    needed = runtime_closure({canonical(name) for name in args.skip.split(",") if name}, specifiers)
    there = target_packages(args.target_freeze)
    carry = {name: version for name, version in needed.items() if not usable_there(name, there.get(name), specifiers)}
    on_target = len(needed) - len(carry)
    print(f"gpu-wheels: {len(needed)} packages needed, {on_target} already on the target, {len(carry)} to carry")
    if args.dry_run:
        print("\n".join(f"  {name}=={version}" for name, version in sorted(carry.items())))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.whl"):
        old.unlink()
    for name, version in sorted(carry.items()):
        spec = f"{name}=={version}"
        download = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(args.out)]
        done = subprocess.run(
            [*download, "--python-version", args.python_version, *WHEEL_TAGS, spec], capture_output=True, text=True
        )
        if done.returncode != 0:  # only a source distribution: pure Python, built into a wheel here
            subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(args.out), spec], check=True
            )
    wheels = sorted(args.out.glob("*.whl"), key=lambda path: path.stat().st_size, reverse=True)
    total = sum(path.stat().st_size for path in wheels) / 2**20
    (args.out / "requirements.txt").write_text("".join(f"{n}=={v}\n" for n, v in sorted(carry.items())))
    print(f"gpu-wheels: {len(wheels)} wheels, {total:.1f} MiB in {args.out}")
    if total > args.limit_mib:
        largest = ", ".join(f"{path.name} ({path.stat().st_size / 2**20:.1f} MiB)" for path in wheels[:5])
        print(
            f"gpu-wheels: over {args.limit_mib:.0f} MiB; the largest: {largest}. Pass the target's freeze "
            "(TARGET_FREEZE=), --skip what the run does not import, or carry them in parts (a warm machine keeps "
            "files)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
