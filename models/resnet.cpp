// ResNet construction and forward passes; see resnet.h.
#include "models/resnet.h"

#include <stdexcept>

namespace models {

namespace {

struct ArchShape {
  bool cifar;
  bool bottleneck;
  std::vector<int> blocks_per_stage;
};

ArchShape arch_shape(const std::string& arch) {
  if (arch == "resnet20") return {true, false, {3, 3, 3}};
  if (arch == "resnet32") return {true, false, {5, 5, 5}};
  if (arch == "resnet44") return {true, false, {7, 7, 7}};
  if (arch == "resnet56") return {true, false, {9, 9, 9}};
  if (arch == "resnet18") return {false, false, {2, 2, 2, 2}};
  if (arch == "resnet34") return {false, false, {3, 4, 6, 3}};
  if (arch == "resnet50") return {false, true, {3, 4, 6, 3}};
  throw std::invalid_argument("unknown arch '" + arch +
                              "' (expected resnet20/32/44/56 or resnet18/34/50)");
}

Tensor conv_with(const ForwardHooks& hooks, const Conv2d& conv, const Tensor& x) {
  return hooks.conv ? hooks.conv(conv, x) : run(conv, x);
}

Tensor bn_with(const ForwardHooks& hooks, BatchNorm2d& bn, const Tensor& x) {
  if (hooks.bn_input) hooks.bn_input(bn, x);
  return run(bn, x, hooks.train_bn);
}

// One block: BasicBlock (3x3, 3x3) or Bottleneck (1x1, 3x3 with the stride, 1x1 x4) in the
// torchvision v1.5 layout.
Block make_block(const std::string& name, int in, int planes, int stride, bool bottleneck,
                 bool cifar, char shortcut, engine::Rng& rng) {
  Block b;
  b.name = name;
  const Init init = Init::KaimingNormal;
  int out = bottleneck ? planes * 4 : planes;
  if (bottleneck) {
    b.convs.push_back(make_conv(name + ".conv1", in, planes, 1, 1, 0, false, init, rng));
    b.convs.push_back(make_conv(name + ".conv2", planes, planes, 3, stride, 1, false, init, rng));
    b.convs.push_back(make_conv(name + ".conv3", planes, out, 1, 1, 0, false, init, rng));
  } else {
    b.convs.push_back(make_conv(name + ".conv1", in, planes, 3, stride, 1, false, init, rng));
    b.convs.push_back(make_conv(name + ".conv2", planes, planes, 3, 1, 1, false, init, rng));
  }
  for (size_t i = 0; i < b.convs.size(); ++i)
    b.bns.push_back(
        make_batch_norm(name + ".bn" + std::to_string(i + 1), b.convs[i].weight.size(0)));
  if (stride == 1 && in == out) return b;
  if (cifar && shortcut == 'A') {
    b.shortcut_pad_channels = (out - in) / 2;
    return b;
  }
  std::string prefix = name + (cifar ? ".shortcut" : ".downsample");
  b.projection = true;
  b.shortcut_conv = make_conv(prefix + ".0", in, out, 1, stride, 0, false, init, rng);
  b.shortcut_bn = make_batch_norm(prefix + ".1", out);
  return b;
}

}  // namespace

bool is_cifar_arch(const std::string& arch) { return arch_shape(arch).cifar; }

void validate(const ModelConfig& c) {
  bool cifar = is_cifar_arch(c.arch);
  if (cifar && c.shortcut != 'A' && c.shortcut != 'B')
    throw std::invalid_argument("shortcut must be A or B, got '" + std::string(1, c.shortcut) +
                                "'");
  if (c.width < 0 || c.width % 2 != 0)
    throw std::invalid_argument("width must be a positive even number, got " +
                                std::to_string(c.width));
  if (c.num_classes < 1) throw std::invalid_argument("num_classes must be at least 1");
  if (c.in_channels < 1) throw std::invalid_argument("in_channels must be at least 1");
  int min_size = cifar ? 4 : 32;
  if (c.input_size < min_size)
    throw std::invalid_argument("input_size " + std::to_string(c.input_size) + " is below " +
                                std::to_string(min_size) + " for " + c.arch);
  if (static_cast<int>(c.mean.size()) != c.in_channels ||
      static_cast<int>(c.std.size()) != c.in_channels)
    throw std::invalid_argument("mean and std need one value per input channel (" +
                                std::to_string(c.in_channels) + ")");
  for (float s : c.std)
    if (!(s > 0.0f)) throw std::invalid_argument("std values must be positive");
}

ResNet::ResNet(const ModelConfig& config, uint64_t seed) : config_(config) {
  validate(config);
  engine::Rng rng(seed);
  ArchShape shape = arch_shape(config.arch);
  int width = config.width > 0 ? config.width : (shape.cifar ? 16 : 64);
  if (shape.cifar)
    stem_ = make_conv("conv1", config.in_channels, width, 3, 1, 1, false, Init::KaimingNormal, rng);
  else
    stem_ = make_conv("conv1", config.in_channels, width, 7, 2, 3, false, Init::KaimingNormal, rng);
  stem_bn_ = make_batch_norm("bn1", width);
  int in = width;
  for (size_t stage = 0; stage < shape.blocks_per_stage.size(); ++stage) {
    int planes = width << stage;
    for (int i = 0; i < shape.blocks_per_stage[stage]; ++i) {
      int stride = (stage > 0 && i == 0) ? 2 : 1;
      std::string name = "layer" + std::to_string(stage + 1) + "." + std::to_string(i);
      blocks_.push_back(make_block(name, in, planes, stride, shape.bottleneck, shape.cifar,
                                   config.shortcut, rng));
      in = shape.bottleneck ? planes * 4 : planes;
    }
  }
  fc_ = make_linear(shape.cifar ? "linear" : "fc", in, config.num_classes, rng);
}

Tensor ResNet::run_block(Block& b, const Tensor& x, const ForwardHooks& hooks) {
  Tensor h = x;
  for (size_t i = 0; i < b.convs.size(); ++i) {
    h = bn_with(hooks, b.bns[i], conv_with(hooks, b.convs[i], h));
    if (i + 1 < b.convs.size()) h = engine::relu(h);
  }
  return engine::relu(engine::add(h, shortcut(b, x, hooks)));
}

Tensor ResNet::shortcut(Block& b, const Tensor& x, const ForwardHooks& hooks) {
  if (b.projection) return bn_with(hooks, b.shortcut_bn, conv_with(hooks, b.shortcut_conv, x));
  Tensor skip = hooks.skip_input ? hooks.skip_input(b, x) : x;
  if (b.shortcut_pad_channels == 0) return skip;
  return engine::shortcut_subsample_pad(skip, b.shortcut_pad_channels);
}

// What lies between the stem conv and the first block: BN, ReLU and, for ImageNet, max pool.
Tensor ResNet::stem_glue(const Tensor& x, const ForwardHooks& hooks) {
  Tensor h = engine::relu(bn_with(hooks, stem_bn_, x));
  return is_cifar_arch(config_.arch) ? h : engine::max_pool2d(h, 3, 2, 1);
}

std::string ResNet::unit_name(int unit) const {
  if (unit == 0) return stem_.name;
  if (unit == num_units() - 1) return fc_.name;
  return blocks_.at(unit - 1).name;
}

// Unit 0 is the stem conv (its output is taken before BN); unit 1 starts with the stem's BN and
// ReLU; the last unit pools globally and classifies.
Tensor ResNet::forward_unit(int unit, const Tensor& x, const ForwardHooks& hooks) {
  if (unit < 0 || unit >= num_units())
    throw std::out_of_range("unit " + std::to_string(unit) + " of " + std::to_string(num_units()));
  if (unit == 0) return conv_with(hooks, stem_, x);
  if (unit == num_units() - 1) {
    Tensor pooled = engine::global_avg_pool(x);
    return hooks.linear ? hooks.linear(fc_, pooled) : run(fc_, pooled);
  }
  Tensor h = unit == 1 ? stem_glue(x, hooks) : x;
  return run_block(blocks_[unit - 1], h, hooks);
}

Tensor ResNet::forward(const Tensor& x, const ForwardHooks& hooks) {
  if (x.ndim() != 4 || x.size(1) != config_.in_channels)
    throw std::invalid_argument("model " + config_.arch + " takes (N, " +
                                std::to_string(config_.in_channels) + ", H, W) input, got " +
                                engine::shape_str(x.shape()));
  Tensor h = x;
  for (int u = 0; u < num_units(); ++u) h = forward_unit(u, h, hooks);
  return h;
}

std::vector<BatchNorm2d*> ResNet::batch_norms() {
  std::vector<BatchNorm2d*> out{&stem_bn_};
  for (Block& b : blocks_) {
    for (BatchNorm2d& bn : b.bns) out.push_back(&bn);
    if (b.projection) out.push_back(&b.shortcut_bn);
  }
  return out;
}

std::vector<Conv2d*> ResNet::convs() {
  std::vector<Conv2d*> out{&stem_};
  for (Block& b : blocks_) {
    for (Conv2d& c : b.convs) out.push_back(&c);
    if (b.projection) out.push_back(&b.shortcut_conv);
  }
  return out;
}

std::vector<std::pair<std::string, Tensor*>> ResNet::named_tensors() {
  std::vector<std::pair<std::string, Tensor*>> out;
  append_tensors(stem_, out);
  append_tensors(stem_bn_, out);
  for (Block& b : blocks_) {
    for (size_t i = 0; i < b.convs.size(); ++i) {
      append_tensors(b.convs[i], out);
      append_tensors(b.bns[i], out);
    }
    if (b.projection) {
      append_tensors(b.shortcut_conv, out);
      append_tensors(b.shortcut_bn, out);
    }
  }
  append_tensors(fc_, out);
  return out;
}

std::vector<Tensor> ResNet::parameters() {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_tensors())
    if (name.find("running_") == std::string::npos) out.push_back(*t);
  return out;
}

void ResNet::set_trainable(bool trainable) {
  for (Tensor& p : parameters()) p.requires_grad_(trainable);
}

void ResNet::to(engine::Device device) { move_tensors(named_tensors(), device); }

}  // namespace models
