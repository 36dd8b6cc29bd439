"""How the code is laid out: layers that import only downward, no import cycle, no generic names installed."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys

from helpers import REPO_ROOT

# Bottom to top: each package may import the ones before it, never one after it.
LAYERS = ("rewards", "data", "runtime", "eval", "stages")


def project_imports(path) -> set[str]:
    """The project modules a file imports (`runtime.layout`, `stages`), at any depth of the file."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        imported |= {name for name in names if name.split(".")[0] in LAYERS}
    return imported


def modules(root=REPO_ROOT) -> dict[str, set[str]]:
    """{`runtime.layout`: the project modules it imports}, for every module of every layer under `root`."""
    graph = {}
    for layer in LAYERS:
        for path in sorted((root / layer).glob("*.py")):
            name = layer if path.stem == "__init__" else f"{layer}.{path.stem}"
            graph[name] = project_imports(path)
    return {name: {target for target in targets if target in graph} for name, targets in graph.items()}


def upward_imports(graph) -> list[str]:
    return [
        f"{name} imports {target}"
        for name, targets in graph.items()
        for target in targets
        if LAYERS.index(target.split(".")[0]) > LAYERS.index(name.split(".")[0])
    ]


def import_cycles(graph) -> list[list[str]]:
    done, on_path, cycles = set(), [], []

    def visit(name):
        if name in on_path:
            cycles.append(on_path[on_path.index(name) :] + [name])
            return
        if name in done:
            return
        on_path.append(name)
        for target in sorted(graph[name] - {name.split(".")[0]}):  # a package's __init__ re-exporting is no cycle
            visit(target)
        on_path.pop()
        done.add(name)

    for name in graph:
        visit(name)
    return cycles


def test_each_layer_imports_only_the_layers_below_it():
    assert upward_imports(modules()) == []


def test_no_module_imports_itself_through_others():
    assert import_cycles(modules()) == []


def test_the_layer_checks_catch_an_upward_import_and_a_cycle(tmp_path):
    """On a copy of the code with two lines added, both checks report them: they can fail."""
    for layer in LAYERS:
        (tmp_path / layer).mkdir()
        for path in (REPO_ROOT / layer).glob("*.py"):
            (tmp_path / layer / path.name).write_text(path.read_text())
    with (tmp_path / "rewards" / "gsm8k.py").open("a") as handle:
        handle.write("\nfrom stages import sft\n")
    with (tmp_path / "runtime" / "layout.py").open("a") as handle:
        handle.write("\nfrom runtime import checkpoints\n")  # checkpoints imports layout
    graph = modules(tmp_path)
    assert set(upward_imports(graph)) == {"rewards.gsm8k imports stages", "rewards.gsm8k imports stages.sft"}
    assert any({"runtime.layout", "runtime.checkpoints"} <= set(cycle) for cycle in import_cycles(graph))


def test_installing_the_project_claims_no_module_names(tmp_path):
    """Outside the repository none of its packages can be imported: the install put dependencies only into the
    environment, nothing called `data` or `eval` that would shadow a user's own."""
    code = (
        "import importlib.util, json; "
        f"print(json.dumps({{name: getattr(importlib.util.find_spec(name), 'origin', None) for name in {LAYERS!r}}}))"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    found = {name: origin for name, origin in json.loads(run.stdout).items() if origin}
    assert not {name: origin for name, origin in found.items() if origin.startswith(str(REPO_ROOT))}
    # and from the repository root (where make and the tests run) they are the repository's own
    assert importlib.util.find_spec("rewards").origin == str(REPO_ROOT / "rewards" / "__init__.py")
