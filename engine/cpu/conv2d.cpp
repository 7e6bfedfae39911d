// CPU kernels of the 2-D convolution: oneDNN's fp32 direct convolutions.
//
// Shapes: x (N, C, H, W), w (K, C, R, S), bias (K), out (N, K, P, Q).
// oneDNN's fast kernels (jit:avx512_core on AVX-512 CPUs, jit:avx2 on AVX2 ones) read and write
// blocked layouts, in which 16 (or 8) channels of one pixel lie side by side (nChw16c); given
// plain NCHW they fall back to a GEMM no faster than im2col + sgemm. The engine keeps its tensors
// NCHW, so each call reorders the operands into the layouts that the primitive asks for, and the
// results back. The reorders of dx and dw add into them (a sum post-op), as the kernel contract
// asks. Reorders included, that is about 2.4 times faster than im2col + sgemm on ResNet-20's
// convolutions at 2 threads.
// The batch runs in chunks of images whose copies fit kChunkBudget, so that a large layer (an
// ImageNet stem) does not hold a second copy of the whole batch; dw adds the chunks in order.
// Results repeat bit for bit for the same thread count and CPU: oneDNN picks its kernels for the
// instruction set (ONEDNN_MAX_CPU_ISA pins it) and splits dw's sum among the threads.
//   forward:  out = conv(x, w), then + bias
//   dx:       dx += the convolution's data gradient of dout
//   dw:       dw += the convolution's weight gradient of x and dout
//   dbias:    the sum of dout over N, P, Q, in double
#include <algorithm>
#include <map>
#include <tuple>
#include <vector>

#include "engine/cpu/onednn.h"
#include "engine/kernels.h"

#include <omp.h>

namespace engine::cpu {

namespace {

using dnnl::memory;
using tag = memory::format_tag;

// The size cap in floats (8 MiB) of one chunk's copy of its input or output: past it the
// primitives already have all the work they can use, and more images only cost memory.
constexpr int64_t kChunkBudget = int64_t{2} << 20;

int images_per_chunk(const ConvGeometry& g) {
  int64_t per_image = std::max(int64_t{g.C} * g.H * g.W, int64_t{g.K} * g.pixels());
  return static_cast<int>(std::clamp<int64_t>(kChunkBudget / per_image, 1, std::max(g.N, 1)));
}

// The three primitives of one geometry, for a chunk of `images`, each with the descriptor that
// says which layouts it wants. Making them costs more than running a small convolution, so each
// is made once per geometry, chunk size and thread count (oneDNN fixes its split among the
// threads when it makes a primitive).
struct ConvPrimitives {
  dnnl::convolution_forward::primitive_desc forward_pd;
  dnnl::convolution_backward_data::primitive_desc data_pd;
  dnnl::convolution_backward_weights::primitive_desc weights_pd;
  dnnl::convolution_forward forward{forward_pd};
  dnnl::convolution_backward_data backward_data{data_pd};
  dnnl::convolution_backward_weights backward_weights{weights_pd};
};

memory::dims input_dims(const ConvGeometry& g, int images) { return {images, g.C, g.H, g.W}; }
memory::dims output_dims(const ConvGeometry& g, int images) { return {images, g.K, g.P, g.Q}; }
memory::dims weight_dims(const ConvGeometry& g) { return {g.K, g.C, g.R, g.S}; }

ConvPrimitives make_primitives(const ConvGeometry& g, int images) {
  using Forward = dnnl::convolution_forward;
  using Data = dnnl::convolution_backward_data;
  using Weights = dnnl::convolution_backward_weights;
  auto any = [](const memory::dims& dims) {
    return memory::desc(dims, memory::data_type::f32, tag::any);
  };
  const memory::desc x = any(input_dims(g, images)), w = any(weight_dims(g)),
                     out = any(output_dims(g, images));
  const memory::dims strides{g.stride, g.stride}, padding{g.padding, g.padding};
  const auto direct = dnnl::algorithm::convolution_direct;
  const dnnl::engine& e = onednn().engine;
  dnnl::primitive_attr attr;  // scratch memory comes from in_buffer, not from each primitive
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  Forward::primitive_desc forward(Forward::desc(dnnl::prop_kind::forward_training, direct, x, w,
                                                out, strides, padding, padding),
                                  attr, e);
  return {forward,
          Data::primitive_desc(Data::desc(direct, x, w, out, strides, padding, padding), attr, e,
                               forward),
          Weights::primitive_desc(Weights::desc(direct, x, w, out, strides, padding, padding), attr,
                                  e, forward)};
}

ConvPrimitives& primitives(const ConvGeometry& g, int images) {
  using Key = std::tuple<int, int, int, int, int, int, int, int, int, int>;
  thread_local std::map<Key, ConvPrimitives> made;
  Key key{images, g.C, g.H, g.W, g.K, g.R, g.S, g.stride, g.padding, omp_get_max_threads()};
  auto found = made.find(key);
  if (found == made.end()) found = made.emplace(key, make_primitives(g, images)).first;
  return found->second;
}

// One buffer per operand that may need a copy in another layout, kept and only ever grown:
// every convolution of a step needs several MB.
enum Copy {
  kInput,
  kWeights,
  kOutput,
  kGradOut,
  kGradOutForWeights,
  kGradInput,
  kGradWeights,
  kScratchpad
};

memory in_buffer(const memory::desc& desc, Copy copy) {
  thread_local std::vector<float> buffers[kScratchpad + 1];
  std::vector<float>& buffer = buffers[copy];
  size_t floats = (desc.get_size() + sizeof(float) - 1) / sizeof(float);
  if (buffer.size() < floats) buffer.resize(floats);
  return memory(desc, onednn().engine, buffer.data());
}

// An engine array in oneDNN's terms: plain row-major (NCHW, OIHW).
memory plain(const float* data, const memory::dims& dims) {
  const tag layout = dims.size() == 4 ? tag::abcd : tag::a;
  return memory({dims, memory::data_type::f32, layout}, onednn().engine, const_cast<float*>(data));
}

// `array` in the layout `wanted`: itself when they agree, else a reordered copy.
memory in_layout(memory array, const memory::desc& wanted, Copy copy) {
  if (array.get_desc() == wanted) return array;
  memory copied = in_buffer(wanted, copy);
  dnnl::reorder(array, copied).execute(onednn().stream, array, copied);
  return copied;
}

// to += from, reordering from's layout into to's.
void add_into(memory to, memory from) {
  dnnl::post_ops sum;
  sum.append_sum(1.0f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(sum);
  dnnl::reorder(from, to, attr).execute(onednn().stream, from, to);
}

// out[n, k] += bias[k]
void add_bias(float* out, const float* bias, const ConvGeometry& g) {
  const int64_t pixels = g.pixels();
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < int64_t{g.N} * g.K; ++plane) {
    float* o = out + plane * pixels;
    const float b = bias[plane % g.K];
    for (int64_t i = 0; i < pixels; ++i) o[i] += b;
  }
}

// dbias[k] += sum of dout[:, k], in double and in a fixed order per k.
void bias_backward(float* dbias, const float* dout, const ConvGeometry& g) {
  const int64_t pixels = g.pixels();
#pragma omp parallel for schedule(static)
  for (int k = 0; k < g.K; ++k) {
    double acc = 0.0;
    for (int n = 0; n < g.N; ++n) {
      const float* plane = dout + (static_cast<int64_t>(n) * g.K + k) * pixels;
      for (int64_t i = 0; i < pixels; ++i) acc += plane[i];
    }
    dbias[k] += static_cast<float>(acc);
  }
}

int64_t input_size(const ConvGeometry& g) { return int64_t{g.C} * g.H * g.W; }
int64_t output_size(const ConvGeometry& g) { return int64_t{g.K} * g.pixels(); }

// out of the images [first, first + count).
void forward_chunk(float* out, const float* x, const float* w, const ConvGeometry& g, int first,
                   int count) {
  ConvPrimitives& p = primitives(g, count);
  memory user_out = plain(out + first * output_size(g), output_dims(g, count));
  memory result = user_out.get_desc() == p.forward_pd.dst_desc()
                      ? user_out
                      : in_buffer(p.forward_pd.dst_desc(), kOutput);
  p.forward.execute(
      onednn().stream,
      {{DNNL_ARG_SRC, in_layout(plain(x + first * input_size(g), input_dims(g, count)),
                                p.forward_pd.src_desc(), kInput)},
       {DNNL_ARG_WEIGHTS,
        in_layout(plain(w, weight_dims(g)), p.forward_pd.weights_desc(), kWeights)},
       {DNNL_ARG_DST, result},
       {DNNL_ARG_SCRATCHPAD, in_buffer(p.forward_pd.scratchpad_desc(), kScratchpad)}});
  if (result != user_out)
    dnnl::reorder(result, user_out).execute(onednn().stream, result, user_out);
}

// dx and dw (either may be nullptr) of the images [first, first + count).
void backward_chunk(float* dx, float* dw, const float* dout, const float* x, const float* w,
                    const ConvGeometry& g, int first, int count) {
  ConvPrimitives& p = primitives(g, count);
  dnnl::stream& stream = onednn().stream;
  const memory user_dout = plain(dout + first * output_size(g), output_dims(g, count));
  memory grad_out = user_dout;  // dout, in dx's layout once dx has run
  if (dx) {
    memory grad_input = in_buffer(p.data_pd.diff_src_desc(), kGradInput);
    grad_out = in_layout(user_dout, p.data_pd.diff_dst_desc(), kGradOut);
    p.backward_data.execute(
        stream, {{DNNL_ARG_DIFF_DST, grad_out},
                 {DNNL_ARG_WEIGHTS,
                  in_layout(plain(w, weight_dims(g)), p.data_pd.weights_desc(), kWeights)},
                 {DNNL_ARG_DIFF_SRC, grad_input},
                 {DNNL_ARG_SCRATCHPAD, in_buffer(p.data_pd.scratchpad_desc(), kScratchpad)}});
    add_into(plain(dx + first * input_size(g), input_dims(g, count)), grad_input);
  }
  if (dw) {
    memory grad_weights = in_buffer(p.weights_pd.diff_weights_desc(), kGradWeights);
    p.backward_weights.execute(
        stream,
        {{DNNL_ARG_SRC, in_layout(plain(x + first * input_size(g), input_dims(g, count)),
                                  p.weights_pd.src_desc(), kInput)},
         {DNNL_ARG_DIFF_DST, in_layout(grad_out, p.weights_pd.diff_dst_desc(), kGradOutForWeights)},
         {DNNL_ARG_DIFF_WEIGHTS, grad_weights},
         {DNNL_ARG_SCRATCHPAD, in_buffer(p.weights_pd.scratchpad_desc(), kScratchpad)}});
    add_into(plain(dw, weight_dims(g)), grad_weights);
  }
}

}  // namespace

// out (N, K, P, Q); bias (K) or nullptr.
void conv2d_forward(float* out, const float* x, const float* w, const float* bias,
                    const ConvGeometry& g) {
  const int chunk = images_per_chunk(g);
  for (int first = 0; first < g.N; first += chunk)
    forward_chunk(out, x, w, g, first, std::min(chunk, g.N - first));
  onednn().stream.wait();
  if (bias) add_bias(out, bias, g);
}

// Adds the gradients into dx (N, C, H, W), dw (K, C, R, S), dbias (K); a nullptr one is skipped.
void conv2d_backward(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                     const float* w, const ConvGeometry& g) {
  if (dbias) bias_backward(dbias, dout, g);
  if (!dx && !dw) return;
  const int chunk = images_per_chunk(g);
  for (int first = 0; first < g.N; first += chunk)
    backward_chunk(dx, dw, dout, x, w, g, first, std::min(chunk, g.N - first));
  onednn().stream.wait();
}

}  // namespace engine::cpu
