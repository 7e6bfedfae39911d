// The doctest runner for every test file under tests/. It runs under the same OpenBLAS kernel
// and OpenMP settings as the genie binary (see engine/threads.h).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "engine/threads.h"

int main(int argc, char** argv) {
  engine::tune_runtime_environment(argv);
  engine::set_threads(engine::resolve_threads(0));
  return doctest::Context(argc, argv).run();
}
