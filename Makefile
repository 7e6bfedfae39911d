# genie.cpp build. `make` builds build/genie; `make test` runs the test suites; `make run` runs
# the main job on the embedded default model; `make bench` compares speed with PyTorch;
# `make fuzz` runs the file-reader fuzzers (clang, libFuzzer; tests/fuzz/README.md).
# Switches: DEBUG=1, SANITIZE=1, CUDA=1 (the CUDA backend; nvcc from PATH or /usr/local/cuda),
# BUILD=dir, FUZZ_RUNS=n.
BUILD ?= build
CXX ?= g++
DEBUG ?= 0
SANITIZE ?= 0
CUDA ?= 0
THREADS ?=

$(foreach v,DEBUG SANITIZE CUDA,$(if $(filter 0 1,$($(v))),,$(error $(v) must be 0 or 1, got '$($(v))')))

OPT := -O3 -march=native
ifeq ($(DEBUG),1)
  OPT := -O0 -g
endif
ifeq ($(SANITIZE),1)
  OPT += -g -fsanitize=address,undefined -fno-omit-frame-pointer -DGENIE_POISON_UNINITIALIZED=1
endif

CXXFLAGS += -std=c++17 $(OPT) -Wall -Wextra -fopenmp -I. -I/usr/include/stb -MMD -MP \
  -DGENIE_CUDA=$(CUDA)
LDFLAGS += $(filter -fsanitize=%,$(OPT)) -fopenmp
LDLIBS += -lopenblas -lstb -lz -ldnnl

LIB_SRC := $(sort $(wildcard engine/*.cpp engine/*/*.cpp models/*.cpp genie/*.cpp))
# The CUDA backend: engine/cuda/*.cu, compiled by nvcc, only with CUDA=1.
ifeq ($(CUDA),1)
  NVCC ?= $(firstword $(shell command -v nvcc) $(wildcard /usr/local/cuda/bin/nvcc))
  $(if $(NVCC),,$(error CUDA=1 needs nvcc on PATH or in /usr/local/cuda/bin))
  CUDA_HOME := $(patsubst %/bin/nvcc,%,$(NVCC))
  CUDA_SRC := $(sort $(wildcard engine/cuda/*.cu))
  NVCCFLAGS += -std=c++17 -O3 -I. -DGENIE_CUDA=1 -MMD -MP -Xcompiler -fopenmp \
    -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90]
  LDFLAGS += -L$(CUDA_HOME)/lib64 -L$(CUDA_HOME)/targets/x86_64-linux/lib
  LDLIBS += -lcublas -lcudart
endif
CLI_SRC := $(sort $(wildcard tools/*.cpp tools/cli/*.cpp))
TEST_SRC := $(sort $(wildcard tests/*.cpp))
# Objects live under obj/ (obj-cuda/ with CUDA=1, so that switching never mixes the two), apart
# from the binaries ($(BUILD)/genie is the CLI, not genie/). backend.stamp changes when CUDA does,
# so that the binaries are relinked.
OBJ := $(BUILD)/obj$(if $(filter 1,$(CUDA)),-cuda)
LIB_OBJ := $(LIB_SRC:%.cpp=$(OBJ)/%.o)
CLI_OBJ := $(CLI_SRC:%.cpp=$(OBJ)/%.o)
TEST_OBJ := $(TEST_SRC:%.cpp=$(OBJ)/%.o)
CUDA_OBJ := $(CUDA_SRC:%.cu=$(OBJ)/%.o)
# The integer engine's epilogue rounds each step as the simulation's separate ops do: no
# multiply-add fused by the compiler (genie/integer_inference.h, Epilogue).
$(OBJ)/genie/integer_inference.o: CXXFLAGS += -ffp-contract=off
STAMP := $(BUILD)/backend.stamp
$(shell mkdir -p $(BUILD); [ "$$(cat $(STAMP) 2>/dev/null)" = "CUDA=$(CUDA)" ] || echo CUDA=$(CUDA) >$(STAMP))

.PHONY: all deps test run bench format clean fuzz fuzz-seeds
all: deps $(BUILD)/genie

deps:
	@tools/deps.sh

$(BUILD)/libgenie.a: $(LIB_OBJ) $(CUDA_OBJ) $(STAMP)
	@rm -f $@
	ar rcs $@ $(filter-out $(STAMP),$^)

$(BUILD)/genie: $(CLI_OBJ) $(BUILD)/libgenie.a $(STAMP)
	$(CXX) $(LDFLAGS) -o $@ $(filter-out $(STAMP),$^) $(LDLIBS)

$(BUILD)/genie_tests: $(TEST_OBJ) $(BUILD)/libgenie.a $(STAMP)
	$(CXX) $(LDFLAGS) -o $@ $(filter-out $(STAMP),$^) $(LDLIBS)

$(OBJ)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c -o $@ $<

$(OBJ)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c -o $@ $<

# The doctest suite runs last, so that its summary is the last line.
test: deps $(BUILD)/genie_tests $(BUILD)/genie
	@echo "== the checkpoint converter (Python standard library; its PyTorch parts skip without torch)"
	python3 tools/test_convert_torch.py
	@echo "== the command line"
	tests/cli.sh $(BUILD)/genie
	@echo "== the run report in headless Chromium (a smoke run, about a minute)"
	tests/report.sh $(BUILD)/genie
	@echo "== integer engine and ONNX export against the simulation (skips without onnxruntime)"
	/usr/bin/python3 tools/test_export_onnx.py $(BUILD)/genie
	/usr/bin/python3 tools/test_export_onnx.py $(BUILD)/genie --skip-input float
	@echo "== the PyTorch fixtures on OpenBLAS's generic kernel: the kernel must not change results"
	OPENBLAS_CORETYPE=Prescott $(BUILD)/genie_tests -tc='fixtures*,parity*,*conv2d*,*linear*'
	@echo "== the doctest suite"
	$(BUILD)/genie_tests

run: all
	$(BUILD)/genie run --budget demo --wbits 2 --abits 4 $(if $(THREADS),--threads $(THREADS))

# Speed as ratios to PyTorch measured in one run (tools/bench.sh); never a stored time.
bench: all
	tools/bench.sh $(BUILD)/genie

# The fuzzers and the library they drive are built apart, by clang with libFuzzer's coverage,
# ASan and UBSan. Each harness runs FUZZ_RUNS inputs grown from its seed corpus (new inputs go
# to a scratch corpus, never into tests/fuzz/seeds); any crash fails the target and leaves its
# input in $(FUZZ_BUILD)/ for tests/fuzz/regressions/.
FUZZ_RUNS ?= 20000
FUZZ_BUILD := build-fuzz
FUZZ_HARNESSES := tensor_file quantized_file
FUZZ_OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
            -fno-sanitize-recover=undefined

fuzz:
	@echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' | \
	    clang++ -x c++ -fsanitize=fuzzer -fopenmp -o /dev/null - 2>/dev/null || \
	    { echo "make fuzz needs clang with libFuzzer and OpenMP:" \
	    "apt-get install -y clang libfuzzer-14-dev libomp-14-dev" >&2; exit 1; }
	$(MAKE) BUILD=$(FUZZ_BUILD) CXX=clang++ OPT="$(FUZZ_OPT)" \
	    $(FUZZ_HARNESSES:%=$(FUZZ_BUILD)/fuzz_%)
	@for h in $(FUZZ_HARNESSES); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$h; \
	  echo "== fuzzing $$h: $(FUZZ_RUNS) inputs"; \
	  $(FUZZ_BUILD)/fuzz_$$h -runs=$(FUZZ_RUNS) -seed=1 -artifact_prefix=$(FUZZ_BUILD)/$$h- \
	      -print_final_stats=1 $(FUZZ_BUILD)/corpus/$$h tests/fuzz/seeds/$$h \
	      > $(FUZZ_BUILD)/$$h.log 2>&1; \
	  status=$$?; \
	  grep -E 'executed_units|total_time|Done' $(FUZZ_BUILD)/$$h.log; \
	  if [ $$status -ne 0 ]; then tail -n 60 $(FUZZ_BUILD)/$$h.log; exit 1; fi; \
	done

$(BUILD)/fuzz_%: $(OBJ)/tests/fuzz/%.o $(BUILD)/libgenie.a
	$(CXX) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# Rewrites the seed corpora and hand-made regression inputs (tests/fuzz/make_seeds.cpp).
fuzz-seeds: $(BUILD)/make_seeds
	$(BUILD)/make_seeds

$(BUILD)/make_seeds: $(OBJ)/tests/fuzz/make_seeds.o $(BUILD)/libgenie.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(wildcard tests/fuzz/*.cpp) $(wildcard engine/*.h engine/*/*.h models/*.h genie/*.h tools/*.h tools/cli/*.h tests/*.h)

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(CUDA_OBJ:.o=.d)

# The embedded default model is assembled into this object.
$(OBJ)/models/default_model.o: data/default.gw
