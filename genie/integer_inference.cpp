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
#include "engine/ops.h"
#include "engine/progress.h"

namespace genie {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

int64_t positions(const NhwcTensor& x) { return int64_t{x.n} * x.h * x.w; }

// The per-channel affine map (x - mean) * scale + shift of BatchNorm in eval mode, computed as
// engine::batch_norm computes it, so that the float epilogue matches the simulation's bits.
struct ChannelAffine {
  std::vector<float> mean, scale, shift;
};

ChannelAffine batch_norm_affine(const models::BatchNorm2d& bn) {
  std::vector<float> mean = bn.state.running_mean.values();
  std::vector<float> var = bn.state.running_var.values();
  const size_t channels = mean.size();
  std::vector<float> gamma = bn.weight.defined() ? bn.weight.values() : std::vector<float>();
  std::vector<float> beta = bn.bias.defined() ? bn.bias.values() : std::vector<float>();
  ChannelAffine a{mean, std::vector<float>(channels), std::vector<float>(channels, 0.0f)};
  for (size_t c = 0; c < channels; ++c) {
    float invstd = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[c]) + bn.state.eps));
    a.scale[c] = invstd * (gamma.empty() ? 1.0f : gamma[c]);
    if (!beta.empty()) a.shift[c] = beta[c];
  }
  return a;
}

void batch_norm(NhwcTensor& x, const models::BatchNorm2d& bn) {
  ChannelAffine a = batch_norm_affine(bn);
  const int C = x.c;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < positions(x); ++p) {
    float* v = x.values.data() + p * C;
    for (int c = 0; c < C; ++c) v[c] = (v[c] - a.mean[c]) * a.scale[c] + a.shift[c];
  }
}

void relu(NhwcTensor& x) {
  float* v = x.values.data();
  const int64_t count = static_cast<int64_t>(x.values.size());
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) v[i] = std::max(v[i], 0.0f);
}

void add_bias(NhwcTensor& x, const Tensor& bias) {
  if (!bias.defined()) return;
  std::vector<float> b = bias.values();
  for (int64_t p = 0; p < positions(x); ++p)
    for (int c = 0; c < x.c; ++c) x.values[p * x.c + c] += b[c];
}

// The option-A shortcut: every second pixel, channels zero-padded equally on both sides.
NhwcTensor subsample_pad(const NhwcTensor& x, int pad_channels) {
  NhwcTensor out{x.n, (x.h + 1) / 2, (x.w + 1) / 2, x.c + 2 * pad_channels, {}};
  out.values.assign(positions(out) * out.c, 0.0f);
  for (int n = 0; n < out.n; ++n)
    for (int i = 0; i < out.h; ++i)
      for (int j = 0; j < out.w; ++j) {
        const float* from = x.values.data() + ((int64_t{n} * x.h + 2 * i) * x.w + 2 * j) * x.c;
        float* to = out.values.data() + ((int64_t{n} * out.h + i) * out.w + j) * out.c;
        std::copy(from, from + x.c, to + pad_channels);
      }
  return out;
}

// The ImageNet stem's 3x3 max pool, stride 2, padding 1 (padding never wins).
NhwcTensor max_pool_3x3_s2(const NhwcTensor& x) {
  NhwcTensor out{x.n, (x.h - 1) / 2 + 1, (x.w - 1) / 2 + 1, x.c, {}};
  out.values.assign(positions(out) * out.c, -std::numeric_limits<float>::infinity());
  for (int n = 0; n < out.n; ++n)
    for (int i = 0; i < out.h; ++i)
      for (int j = 0; j < out.w; ++j) {
        float* to = out.values.data() + ((int64_t{n} * out.h + i) * out.w + j) * out.c;
        for (int y = std::max(2 * i - 1, 0); y < std::min(2 * i + 2, x.h); ++y)
          for (int z = std::max(2 * j - 1, 0); z < std::min(2 * j + 2, x.w); ++z) {
            const float* from = x.values.data() + ((int64_t{n} * x.h + y) * x.w + z) * x.c;
            for (int c = 0; c < x.c; ++c) to[c] = std::max(to[c], from[c]);
          }
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
  NhwcTensor out{x.n, 1, 1, x.c, std::vector<float>(int64_t{x.n} * x.c)};
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
  if (!quantizer.initialized())
    throw std::invalid_argument("an activation quantizer without a step cannot run integers");
  const int bits = quantizer.bits();
  const bool is_signed = quantizer.is_signed();
  const float qn = is_signed ? -static_cast<float>(1 << (bits - 1)) : 0.0f;
  const float qp = static_cast<float>(is_signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1);
  NhwcCodes out{x.n, x.h, x.w, x.c, is_signed, quantizer.step.item(), {}};
  out.bytes.resize(x.values.size());
  const float step = out.step;
  const float* values = x.values.data();
  uint8_t* codes = out.bytes.data();
  const int64_t count = static_cast<int64_t>(x.values.size());
  // firstprivate: each thread's own copies, which a byte store cannot alias, so the loop
  // vectorises instead of reloading them after every store.
#pragma omp parallel for schedule(static) firstprivate(values, codes, step, qn, qp)
  for (int64_t i = 0; i < count; ++i) {
    // The division, clamp and round-half-even of ActivationQuantizer::forward, in its order.
    int code = static_cast<int>(std::nearbyint(std::min(std::max(values[i] / step, qn), qp)));
    codes[i] = static_cast<uint8_t>(code);  // two's complement for a signed code
  }
  return out;
}

NhwcTensor dequantize_activations(const NhwcCodes& x) {
  NhwcTensor out{x.n, x.h, x.w, x.c, std::vector<float>(x.bytes.size())};
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

NhwcTensor IntegerConv::forward(const NhwcCodes& x) {
  Kernels& k = *kernels_;
  Kernels::Compiled& c = k.compile(x);
  const int K = static_cast<int>(k.weight_dims[0]);
  NhwcTensor out{x.n, c.out_h, c.out_w, K, {}};
  const int64_t count = positions(out);
  // Written whole by the convolutions, so left unfilled.
  std::unique_ptr<int32_t[]> acc(new int32_t[count * K]);
  std::unique_ptr<int32_t[]> window(k.offsets.empty() ? nullptr : new int32_t[count]);
  engine::cpu::OneDnn& d = engine::cpu::onednn();
  auto run = [&](dnnl::convolution_forward& conv, dnnl::memory& w, int32_t* dst, int channels) {
    dnnl::memory src({{x.n, x.c, x.h, x.w}, x.is_signed ? dt::s8 : dt::u8, tag::nhwc}, d.engine,
                     const_cast<uint8_t*>(x.bytes.data()));
    dnnl::memory result({{x.n, channels, c.out_h, c.out_w}, dt::s32, tag::nhwc}, d.engine, dst);
    conv.execute(d.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, result}});
  };
  run(c.conv, c.weights, acc.get(), K);
  if (window) run(c.window_sum, c.ones, window.get(), 1);
  d.stream.wait();
  // The epilogue's first step: int32 sums to floats with both steps.
  std::vector<float> scale(K);
  for (int i = 0; i < K; ++i) scale[i] = x.step * k.weight_step[i];
  out.values.resize(count * K);
  if (window) {  // the 8-bit layers' correction, added to the sums first
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < count; ++p)
      for (int i = 0; i < K; ++i) acc[p * K + i] += k.offsets[i] * window[p];
  }
  const int32_t* sums = acc.get();
  const float* scales = scale.data();
  float* values = out.values.data();
#pragma omp parallel for schedule(static) firstprivate(sums, scales, values)
  for (int64_t p = 0; p < count; ++p)
    for (int i = 0; i < K; ++i) values[p * K + i] = static_cast<float>(sums[p * K + i]) * scales[i];
  return out;
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

NhwcTensor IntegerResNet::conv(const std::string& name, const NhwcCodes& x) {
  return convs_.at(name).forward(x);
}

// The stem conv runs in float on its dequantized weights, exactly as in the simulation: its
// input is the image, which no quantizer touches.
NhwcTensor IntegerResNet::stem(const Tensor& x) {
  models::ResNet& model = q_.model();
  const models::Conv2d& stem = *model.convs().front();
  Tensor weights = q_.layer(stem.name).weight->hard_weights();
  NhwcTensor h = to_nhwc(engine::conv2d(x, weights, stem.bias, stem.stride, stem.padding));
  batch_norm(h, *model.batch_norms().front());
  relu(h);
  return models::is_cifar_arch(model.config().arch) ? h : max_pool_3x3_s2(h);
}

NhwcTensor IntegerResNet::block(const models::Block& b, const NhwcTensor& input) {
  NhwcCodes entry = quantize_activations(input, *q_.layer(b.convs[0].name).input);
  NhwcCodes codes;  // the input of the next conv inside the block
  NhwcTensor h;
  for (size_t i = 0; i < b.convs.size(); ++i) {
    h = conv(b.convs[i].name, i == 0 ? entry : codes);
    add_bias(h, b.convs[i].bias);
    batch_norm(h, b.bns[i]);
    if (i + 1 == b.convs.size()) break;
    relu(h);
    codes = quantize_activations(h, *q_.layer(b.convs[i + 1].name).input);
  }
  NhwcTensor skip;
  if (b.projection) {
    skip = conv(b.shortcut_conv.name, entry);
    add_bias(skip, b.shortcut_conv.bias);
    batch_norm(skip, b.shortcut_bn);
  } else {
    skip = q_.policy().skip_input == SkipInput::quantized ? dequantize_activations(entry) : input;
    if (b.shortcut_pad_channels > 0) skip = subsample_pad(skip, b.shortcut_pad_channels);
  }
  add_relu(h, skip);
  return h;
}

Tensor IntegerResNet::head(const NhwcTensor& x) {
  models::Linear& fc = q_.model().classifier();
  NhwcTensor logits =
      conv(fc.name, quantize_activations(global_avg_pool(x), *q_.layer(fc.name).input));
  add_bias(logits, fc.bias);
  return Tensor({logits.n, logits.c}, std::move(logits.values));
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
