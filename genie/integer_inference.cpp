// Integer inference on the CPU with oneDNN; see integer_inference.h.
#include "genie/integer_inference.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <dnnl.hpp>
#include <limits>
#include <memory>
#include <stdexcept>
#include <tuple>

#include "engine/autograd.h"
#include "engine/cpu/onednn.h"
#include "engine/kernels.h"
#include "engine/ops.h"
#include "engine/progress.h"

namespace genie {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// The pixels of a batch of NHWC activations, codes or sums: n * h * w.
template <class Nhwc>
int64_t positions(const Nhwc& x) {
  return int64_t{x.n} * x.h * x.w;
}

// The epilogue of a bare conv: the scales s_a * s_w[k], every other part its identity.
Epilogue scaling(float activation_step, const std::vector<float>& weight_step) {
  const size_t K = weight_step.size();
  Epilogue e{{},
             std::vector<float>(K, 0.0f),
             std::vector<float>(K, 0.0f),
             std::vector<float>(K, 1.0f),
             std::vector<float>(K, 0.0f)};
  for (float s : weight_step) e.scale.push_back(activation_step * s);
  return e;
}

// The epilogue on the K sums of one position.
void epilogue_row(const Epilogue& e, const int32_t* sums, float* out, int K) {
  for (int k = 0; k < K; ++k) {
    float v = static_cast<float>(sums[k]) * e.scale[k] + e.bias[k];
    out[k] = std::max(std::fma(v - e.mean[k], e.bn_scale[k], e.bn_shift[k]), e.floor);
  }
}

// The grid of an activation quantizer's codes: Qn..Qp in steps of `step`.
struct CodeGrid {
  bool is_signed;
  float step, qn, qp;
};

CodeGrid code_grid(const ActivationQuantizer& quantizer) {
  if (!quantizer.initialized())
    throw std::invalid_argument("an activation quantizer without a step cannot run integers");
  return {quantizer.is_signed(), quantizer.step.item(), quantizer.qn(), quantizer.qp()};
}

// The division, clamp and round-half-even of ActivationQuantizer::forward, in its order; a
// signed code is stored in two's complement.
inline uint8_t quantize(float v, const CodeGrid& g) {
  return static_cast<uint8_t>(
      static_cast<int>(std::nearbyint(std::min(std::max(v / g.step, g.qn), g.qp))));
}

// The epilogue over every sum, into floats.
NhwcTensor to_values(const NhwcSums& sums, const Epilogue& e) {
  NhwcTensor out{sums.n, sums.h, sums.w, sums.c, {}};
  const int K = sums.c;
  const int64_t count = positions(sums);
  out.values.resize(count * K);
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < count; ++p)
    epilogue_row(e, sums.values.get() + p * K, out.values.data() + p * K, K);
  return out;
}

// The epilogue over every sum, straight into the codes of the next conv's quantizer. Tiles of
// positions go through a float buffer, so that the quantizer's loop runs long enough to vectorise
// (per position it would run K = 16 bytes, below one vector of byte stores).
NhwcCodes to_codes(const NhwcSums& sums, const Epilogue& e, const CodeGrid& grid) {
  NhwcCodes out{sums.n, sums.h, sums.w, sums.c, grid.is_signed, grid.step, {}};
  const int K = sums.c;
  const int64_t count = positions(sums);
  constexpr int64_t kTile = 64;
  out.bytes.resize(count * K);
#pragma omp parallel
  {
    std::vector<float> values(kTile * K);
    const CodeGrid g = grid;  // the thread's own, which the byte stores cannot alias
#pragma omp for schedule(static)
    for (int64_t tile = 0; tile < count; tile += kTile) {
      const int64_t rows = std::min(kTile, count - tile);
      for (int64_t r = 0; r < rows; ++r)
        epilogue_row(e, sums.values.get() + (tile + r) * K, values.data() + r * K, K);
      uint8_t* codes = out.bytes.data() + tile * K;
      for (int64_t i = 0; i < rows * K; ++i) codes[i] = quantize(values[i], g);
    }
  }
  return out;
}

// The option-A shortcut: every second pixel, channels zero-padded equally on both sides.
NhwcTensor subsample_pad(const NhwcTensor& x, int pad_channels) {
  NhwcTensor out{x.n, (x.h + 1) / 2, (x.w + 1) / 2, x.c + 2 * pad_channels, {}};
  out.values.resize(positions(out) * out.c);
#pragma omp parallel for schedule(static)
  for (int n = 0; n < out.n; ++n)
    for (int i = 0; i < out.h; ++i)
      for (int j = 0; j < out.w; ++j) {
        const float* from = x.values.data() + ((int64_t{n} * x.h + 2 * i) * x.w + 2 * j) * x.c;
        float* to = out.values.data() + ((int64_t{n} * out.h + i) * out.w + j) * out.c;
        std::fill(to, to + pad_channels, 0.0f);
        std::copy(from, from + x.c, to + pad_channels);
        std::fill(to + pad_channels + x.c, to + out.c, 0.0f);
      }
  return out;
}

// The residual join: relu(h + skip), into h.
void add_relu(NhwcTensor& h, const NhwcTensor& skip) {
  if (h.values.size() != skip.values.size())
    throw std::invalid_argument("a block's shortcut does not match its residual branch");
  float* out = h.values.data();
  const float* add = skip.values.data();
  const int64_t count = static_cast<int64_t>(h.values.size());
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) out[i] = std::max(out[i] + add[i], 0.0f);
}

// Global average pooling as engine::global_avg_pool computes it (a sum in double).
NhwcTensor global_avg_pool(const NhwcTensor& x) {
  NhwcTensor out{x.n, 1, 1, x.c, Activations<float>(int64_t{x.n} * x.c)};
  const int64_t plane = int64_t{x.h} * x.w;
  for (int n = 0; n < x.n; ++n)
    for (int c = 0; c < x.c; ++c) {
      double sum = 0.0;
      for (int64_t p = 0; p < plane; ++p) sum += x.values[(n * plane + p) * x.c + c];
      out.values[int64_t{n} * x.c + c] = static_cast<float>(sum / static_cast<double>(plane));
    }
  return out;
}

}  // namespace

NhwcTensor to_nhwc(const Tensor& nchw) {
  if (nchw.ndim() != 4) throw std::invalid_argument("to_nhwc needs an (N, C, H, W) tensor");
  if (nchw.device() != engine::Device::CPU)
    throw std::invalid_argument("to_nhwc needs a tensor on the CPU");
  NhwcTensor out{nchw.size(0), nchw.size(2), nchw.size(3), nchw.size(1), {}};
  const float* v = nchw.data();
  out.values.resize(nchw.numel());
  const int64_t plane = int64_t{out.h} * out.w;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < out.n; ++n)
    for (int c = 0; c < out.c; ++c)
      for (int64_t p = 0; p < plane; ++p)
        out.values[(n * plane + p) * out.c + c] = v[(int64_t{n} * out.c + c) * plane + p];
  return out;
}

Tensor to_nchw(const NhwcTensor& x) {
  std::vector<float> v(x.values.size());
  const int64_t plane = int64_t{x.h} * x.w;
  for (int n = 0; n < x.n; ++n)
    for (int c = 0; c < x.c; ++c)
      for (int64_t p = 0; p < plane; ++p)
        v[(int64_t{n} * x.c + c) * plane + p] = x.values[(n * plane + p) * x.c + c];
  return Tensor({x.n, x.c, x.h, x.w}, std::move(v));
}

NhwcCodes quantize_activations(const NhwcTensor& x, const ActivationQuantizer& quantizer) {
  const CodeGrid grid = code_grid(quantizer);
  NhwcCodes out{x.n, x.h, x.w, x.c, grid.is_signed, grid.step, {}};
  out.bytes.resize(x.values.size());
  const float* values = x.values.data();
  uint8_t* codes = out.bytes.data();
  const int64_t count = static_cast<int64_t>(x.values.size());
  // firstprivate: each thread's own copies, which a byte store cannot alias, so the loop
  // vectorises instead of reloading them after every store.
#pragma omp parallel for schedule(static) firstprivate(values, codes, grid)
  for (int64_t i = 0; i < count; ++i) codes[i] = quantize(values[i], grid);
  return out;
}

NhwcTensor dequantize_activations(const NhwcCodes& x) {
  NhwcTensor out{x.n, x.h, x.w, x.c, Activations<float>(x.bytes.size())};
  const uint8_t* codes = x.bytes.data();
  float* values = out.values.data();
  const int64_t count = static_cast<int64_t>(x.bytes.size());
  const bool is_signed = x.is_signed;
  const float step = x.step;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) {
    int code = is_signed ? static_cast<int8_t>(codes[i]) : codes[i];
    values[i] = static_cast<float>(code) * step;
  }
  return out;
}

// ---- IntegerConv ----

// A weight code minus its zero point fits int8 for codes of up to 7 bits with a zero point
// inside their range. When it does not (8-bit codes), the weights run as
// code - 128, always int8, and sum(x * (code - zp)) = sum(x * (code - 128)) + (128 - zp) *
// sum(x): the window sums of x come from a second convolution with one all-ones filter.
struct IntegerConv::Kernels {
  struct Compiled {
    dnnl::convolution_forward conv, window_sum;
    dnnl::memory weights, ones;
    int out_h = 0, out_w = 0;
  };
  dnnl::memory::dims weight_dims;  // (K, C, R, S)
  int stride = 1, padding = 0;
  std::vector<int8_t> weights, ones;  // ones empty unless the offsets are needed
  std::vector<float> weight_step;     // (K)
  std::vector<int32_t> offsets;       // (K) 128 - zp, or empty
  std::map<std::tuple<int, int, int, int, bool>, Compiled> compiled;  // by input shape, signed

  Compiled& compile(const NhwcCodes& x);
  std::pair<dnnl::convolution_forward, dnnl::memory> make(const NhwcCodes& x,
                                                          const std::vector<int8_t>& w, int k,
                                                          int out_h, int out_w);
};

std::pair<dnnl::convolution_forward, dnnl::memory> IntegerConv::Kernels::make(
    const NhwcCodes& x, const std::vector<int8_t>& w, int k, int out_h, int out_w) {
  engine::cpu::OneDnn& d = engine::cpu::onednn();
  dnnl::memory::dims dims = weight_dims;
  dims[0] = k;
  dnnl::memory::desc src({x.n, x.c, x.h, x.w}, x.is_signed ? dt::s8 : dt::u8, tag::nhwc);
  dnnl::memory::desc any_weights(dims, dt::s8, tag::any);
  dnnl::memory::desc dst({x.n, k, out_h, out_w}, dt::s32, tag::nhwc);
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                       dnnl::algorithm::convolution_direct, src, any_weights, dst,
                                       {stride, stride}, {padding, padding}, {padding, padding});
  dnnl::convolution_forward::primitive_desc pd(desc, d.engine);
  // The kernel's own weight layout (blocked, with the compensation signed inputs need).
  dnnl::memory plain({dims, dt::s8, tag::oihw}, d.engine, const_cast<int8_t*>(w.data()));
  dnnl::memory blocked(pd.weights_desc(), d.engine);
  dnnl::reorder(plain, blocked).execute(d.stream, plain, blocked);
  d.stream.wait();
  return {dnnl::convolution_forward(pd), blocked};
}

IntegerConv::Kernels::Compiled& IntegerConv::Kernels::compile(const NhwcCodes& x) {
  auto key = std::make_tuple(x.n, x.c, x.h, x.w, x.is_signed);
  auto found = compiled.find(key);
  if (found != compiled.end()) return found->second;
  if (x.c != weight_dims[1])
    throw std::invalid_argument("an integer conv with " + std::to_string(weight_dims[1]) +
                                " input channels got " + std::to_string(x.c));
  Compiled c;
  c.out_h = (x.h + 2 * padding - static_cast<int>(weight_dims[2])) / stride + 1;
  c.out_w = (x.w + 2 * padding - static_cast<int>(weight_dims[3])) / stride + 1;
  std::tie(c.conv, c.weights) =
      make(x, weights, static_cast<int>(weight_dims[0]), c.out_h, c.out_w);
  if (!offsets.empty()) std::tie(c.window_sum, c.ones) = make(x, ones, 1, c.out_h, c.out_w);
  return compiled.emplace(key, std::move(c)).first->second;
}

IntegerConv::IntegerConv(const WeightQuantizer& weight, int stride, int padding)
    : kernels_(std::make_unique<Kernels>()) {
  engine::CodeTensor codes = weight.codes();
  const engine::Shape& s = codes.shape;
  if (s.size() != 4 && s.size() != 2)
    throw std::invalid_argument("integer conv weights must be (K, C, R, S) or (K, C), got " +
                                engine::shape_str(s));
  Kernels& k = *kernels_;
  k.weight_dims = {s[0], s[1], s.size() == 4 ? s[2] : 1, s.size() == 4 ? s[3] : 1};
  k.stride = stride;
  k.padding = padding;
  k.weight_step = weight.step.values();
  std::vector<float> zero_point = weight.zero_point.values();
  const int64_t per_channel = static_cast<int64_t>(codes.codes.size()) / s[0];
  auto centred = [&](size_t i) {
    return codes.codes[i] - static_cast<int>(zero_point[i / per_channel]);
  };
  bool fits = true;
  for (size_t i = 0; i < codes.codes.size(); ++i)
    fits = fits && centred(i) >= -128 && centred(i) <= 127;
  k.weights.resize(codes.codes.size());
  for (size_t i = 0; i < codes.codes.size(); ++i)
    k.weights[i] = static_cast<int8_t>(fits ? centred(i) : codes.codes[i] - 128);
  if (fits) return;
  for (float zp : zero_point) k.offsets.push_back(128 - static_cast<int32_t>(zp));
  k.ones.assign(per_channel, 1);
}

IntegerConv::~IntegerConv() = default;
IntegerConv::IntegerConv(IntegerConv&&) noexcept = default;

NhwcSums IntegerConv::sums(const NhwcCodes& x) {
  Kernels& k = *kernels_;
  Kernels::Compiled& c = k.compile(x);
  const int K = static_cast<int>(k.weight_dims[0]);
  NhwcSums out{x.n, c.out_h, c.out_w, K, nullptr};
  const int64_t count = positions(out);
  // Written whole by the convolutions, so left unfilled.
  out.values.reset(new int32_t[count * K]);
  std::unique_ptr<int32_t[]> window(k.offsets.empty() ? nullptr : new int32_t[count]);
  engine::cpu::OneDnn& d = engine::cpu::onednn();
  auto run = [&](dnnl::convolution_forward& conv, dnnl::memory& w, int32_t* dst, int channels) {
    dnnl::memory src({{x.n, x.c, x.h, x.w}, x.is_signed ? dt::s8 : dt::u8, tag::nhwc}, d.engine,
                     const_cast<uint8_t*>(x.bytes.data()));
    dnnl::memory result({{x.n, channels, c.out_h, c.out_w}, dt::s32, tag::nhwc}, d.engine, dst);
    conv.execute(d.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, result}});
  };
  run(c.conv, c.weights, out.values.get(), K);
  if (window) run(c.window_sum, c.ones, window.get(), 1);
  d.stream.wait();
  if (window) {  // the 8-bit layers' correction (see Kernels)
    int32_t* acc = out.values.get();
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < count; ++p)
      for (int i = 0; i < K; ++i) acc[p * K + i] += k.offsets[i] * window[p];
  }
  return out;
}

const std::vector<float>& IntegerConv::weight_step() const { return kernels_->weight_step; }

NhwcTensor IntegerConv::forward(const NhwcCodes& x) {
  return to_values(sums(x), scaling(x.step, weight_step()));
}

// ---- IntegerResNet ----

IntegerResNet::IntegerResNet(QuantizedResNet& q) : q_(q) {
  models::ResNet& model = q.model();
  std::vector<models::Conv2d*> convs = model.convs();
  for (size_t i = 1; i < convs.size(); ++i) {
    QuantizedLayer& l = q.layer(convs[i]->name);
    if (!l.input || !l.input->initialized())
      throw std::invalid_argument("layer '" + convs[i]->name +
                                  "' has a float input: the integer engine needs every conv but "
                                  "the stem to quantize its input");
    convs_.emplace(convs[i]->name, IntegerConv(*l.weight, convs[i]->stride, convs[i]->padding));
  }
  QuantizedLayer& fc = q.layer(model.classifier().name);
  if (!fc.input || !fc.input->initialized())
    throw std::invalid_argument(
        "the classifier has a float input: the integer engine needs it "
        "quantized");
  convs_.emplace(model.classifier().name, IntegerConv(*fc.weight, 1, 0));
}

IntegerResNet::~IntegerResNet() = default;

NhwcSums IntegerResNet::conv(const std::string& name, const NhwcCodes& x) {
  return convs_.at(name).sums(x);
}

Epilogue IntegerResNet::epilogue(const std::string& name, const NhwcCodes& x, const Tensor& bias,
                                 const models::BatchNorm2d* bn, bool relu) {
  Epilogue e = scaling(x.step, convs_.at(name).weight_step());
  if (bias.defined()) e.bias = bias.values();
  if (bn) {  // mean and 1/std from engine::batch_norm's own kernel, its scale as its forward's
    const std::vector<float> running_mean = bn->state.running_mean.values(),
                             running_var = bn->state.running_var.values();
    std::vector<float> invstd(running_var.size());
    engine::cpu::batch_norm_running_statistics(e.mean.data(), invstd.data(), running_mean.data(),
                                               running_var.data(), static_cast<int>(invstd.size()),
                                               bn->state.eps);
    std::vector<float> gamma = bn->weight.defined() ? bn->weight.values() : std::vector<float>();
    if (bn->bias.defined()) e.bn_shift = bn->bias.values();
    for (size_t c = 0; c < invstd.size(); ++c)
      e.bn_scale[c] = invstd[c] * (gamma.empty() ? 1.0f : gamma[c]);
  }
  if (relu) e.floor = 0.0f;
  return e;
}

// The stem runs in float on its dequantized weights with the engine's own ops, exactly as in
// the simulation: its input is the image, which no quantizer touches.
NhwcTensor IntegerResNet::stem(const Tensor& x) {
  models::ResNet& model = q_.model();
  const models::Conv2d& stem = *model.convs().front();
  models::BatchNorm2d& bn = *model.batch_norms().front();
  Tensor weights = q_.layer(stem.name).weight->hard_weights();
  Tensor h = engine::relu(
      engine::batch_norm(engine::conv2d(x, weights, stem.bias, stem.stride, stem.padding),
                         bn.weight, bn.bias, bn.state, false));
  return to_nhwc(models::is_cifar_arch(model.config().arch) ? h : engine::max_pool2d(h, 3, 2, 1));
}

// conv, BatchNorm, ReLU and so on to the block's last BatchNorm, then the shortcut's join. Each
// conv's epilogue ends in the next conv's codes, the last one's in floats.
NhwcTensor IntegerResNet::block(const models::Block& b, const NhwcTensor& input) {
  NhwcCodes entry = quantize_activations(input, *q_.layer(b.convs[0].name).input);
  const size_t last = b.convs.size() - 1;
  NhwcCodes codes;  // the input of the next conv inside the block
  for (size_t i = 0; i < last; ++i) {
    const NhwcCodes& x = i == 0 ? entry : codes;
    const std::string& name = b.convs[i].name;
    Epilogue e = epilogue(name, x, b.convs[i].bias, &b.bns[i], true);
    codes = to_codes(conv(name, x), e, code_grid(*q_.layer(b.convs[i + 1].name).input));
  }
  const NhwcCodes& x = last == 0 ? entry : codes;
  const std::string& name = b.convs[last].name;
  NhwcTensor h =
      to_values(conv(name, x), epilogue(name, x, b.convs[last].bias, &b.bns[last], false));
  NhwcTensor shortcut;              // the skip, where it is computed
  const NhwcTensor* skip = &input;  // else the block's input itself, not copied
  if (b.projection) {
    const std::string& projection = b.shortcut_conv.name;
    shortcut = to_values(conv(projection, entry),
                         epilogue(projection, entry, b.shortcut_conv.bias, &b.shortcut_bn, false));
    skip = &shortcut;
  } else {
    if (q_.policy().skip_input == SkipInput::quantized) {
      shortcut = dequantize_activations(entry);
      skip = &shortcut;
    }
    if (b.shortcut_pad_channels > 0) {
      shortcut = subsample_pad(*skip, b.shortcut_pad_channels);
      skip = &shortcut;
    }
  }
  add_relu(h, *skip);
  return h;
}

Tensor IntegerResNet::head(const NhwcTensor& x) {
  models::Linear& fc = q_.model().classifier();
  NhwcCodes pooled = quantize_activations(global_avg_pool(x), *q_.layer(fc.name).input);
  NhwcTensor logits =
      to_values(conv(fc.name, pooled), epilogue(fc.name, pooled, fc.bias, nullptr, false));
  return Tensor({logits.n, logits.c},
                std::vector<float>(logits.values.begin(), logits.values.end()));
}

Tensor IntegerResNet::forward(const Tensor& x) {
  engine::NoGrad no_grad;
  NhwcTensor h = stem(x);
  for (const models::Block& b : q_.model().blocks()) h = block(b, h);
  return head(h);
}

// ---- evaluation ----

namespace {

// Whether the label is among the k largest logits of `row` (ties go to the lower class, as in
// models::evaluate).
bool label_in_top(const std::vector<float>& logits, int64_t row, int classes, int label, int k) {
  const float* r = logits.data() + row * classes;
  int ahead = 0;
  for (int c = 0; c < classes; ++c) ahead += r[c] > r[label] || (r[c] == r[label] && c < label);
  return ahead < k;
}

}  // namespace

models::Accuracy evaluate_integer(IntegerResNet& net, models::ResNet& model,
                                  const engine::Dataset& data, int batch, int64_t limit) {
  const int classes = model.config().num_classes;
  int64_t n = limit > 0 ? std::min(limit, data.size()) : data.size();
  engine::Progress progress("eval int", n);
  models::Accuracy acc;
  int64_t top1 = 0, top5 = 0;
  for (int64_t start = 0; start < n; start += batch) {
    std::vector<int64_t> idx;
    for (int64_t i = start; i < std::min(n, start + batch); ++i) idx.push_back(i);
    engine::Batch b = models::load_normalized(model, data, idx);
    std::vector<float> logits = net.forward(b.images).values();
    for (size_t i = 0; i < idx.size(); ++i) {
      const float* row = logits.data() + i * classes;
      if (!std::all_of(row, row + classes, [](float v) { return std::isfinite(v); })) {
        ++acc.non_finite;  // a miss: no comparison with NaN can make it a hit
        continue;
      }
      top1 += label_in_top(logits, i, classes, b.labels[i], 1);
      top5 += label_in_top(logits, i, classes, b.labels[i], std::min(5, classes));
    }
    progress.update(start + static_cast<int64_t>(idx.size()), "");
  }
  progress.finish("");
  acc.n = n;
  acc.top1 = 100.0 * top1 / std::max<int64_t>(n, 1);
  acc.top5 = 100.0 * top5 / std::max<int64_t>(n, 1);
  return acc;
}

}  // namespace genie
