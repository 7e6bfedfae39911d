// oneDNN's CPU engine and the one stream that every oneDNN call runs on (the fp32 convolutions
// here, the integer engine in genie/). oneDNN runs on the OpenMP threads the engine already uses
// (Debian builds it with OpenMP), so engine::set_threads governs it too.
#pragma once

#include <dnnl.hpp>

namespace engine::cpu {

struct OneDnn {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};

OneDnn& onednn();

}  // namespace engine::cpu
