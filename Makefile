# genie.cpp build. `make` builds build/genie; `make test` runs the test suites; `make run` runs
# the main job on the embedded default model; `make bench` compares speed with PyTorch.
# Switches: DEBUG=1, SANITIZE=1, BUILD=dir.
BUILD ?= build
CXX ?= g++
DEBUG ?= 0
SANITIZE ?= 0
THREADS ?=

$(foreach v,DEBUG SANITIZE,$(if $(filter 0 1,$($(v))),,$(error $(v) must be 0 or 1, got '$($(v))')))

OPT := -O3 -march=native
ifeq ($(DEBUG),1)
  OPT := -O0 -g
endif
ifeq ($(SANITIZE),1)
  OPT += -g -fsanitize=address,undefined -fno-omit-frame-pointer
endif

CXXFLAGS += -std=c++17 $(OPT) -Wall -Wextra -fopenmp -I. -I/usr/include/stb -MMD -MP
LDFLAGS += $(filter -fsanitize=%,$(OPT)) -fopenmp
LDLIBS += -lopenblas -lstb -lz

LIB_SRC := $(sort $(wildcard engine/*.cpp engine/*/*.cpp models/*.cpp genie/*.cpp))
CLI_SRC := $(sort $(wildcard tools/*.cpp tools/cli/*.cpp))
TEST_SRC := $(sort $(wildcard tests/*.cpp))
# Objects live under obj/, apart from the binaries ($(BUILD)/genie is the CLI, not genie/).
LIB_OBJ := $(LIB_SRC:%.cpp=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.cpp=$(BUILD)/obj/%.o)
TEST_OBJ := $(TEST_SRC:%.cpp=$(BUILD)/obj/%.o)

.PHONY: all deps test run bench format clean
all: deps $(BUILD)/genie

deps:
	@tools/deps.sh

$(BUILD)/libgenie.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/genie: $(CLI_OBJ) $(BUILD)/libgenie.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/genie_tests: $(TEST_OBJ) $(BUILD)/libgenie.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c -o $@ $<

# The doctest suite runs last, so that its summary is the last line.
test: deps $(BUILD)/genie_tests $(BUILD)/genie
	@echo "== the checkpoint converter (Python standard library; its PyTorch parts skip without torch)"
	python3 tools/test_convert_torch.py
	@echo "== the command line"
	tests/cli.sh $(BUILD)/genie
	@echo "== the PyTorch fixtures on OpenBLAS's generic kernel: the kernel must not change results"
	OPENBLAS_CORETYPE=Prescott $(BUILD)/genie_tests -tc='fixtures*,parity*,*conv2d*,*linear*'
	@echo "== the doctest suite"
	$(BUILD)/genie_tests

run: all
	$(BUILD)/genie run --budget demo --wbits 2 --abits 4 $(if $(THREADS),--threads $(THREADS))

# Speed as ratios to PyTorch measured in one run (tools/bench.sh); never a stored time.
bench: all
	tools/bench.sh $(BUILD)/genie

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(wildcard engine/*.h engine/*/*.h models/*.h genie/*.h tools/*.h tools/cli/*.h tests/*.h)

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)

# The embedded default model is assembled into this object.
$(BUILD)/obj/models/default_model.o: data/default.gw
