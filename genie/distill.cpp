// The GENIE-D distillation loop; see distill.h.
#include "genie/distill.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/lr_schedule.h"
#include "engine/optim.h"
#include "engine/progress.h"
#include "engine/tensor_file.h"
#include "genie/bn_statistics_loss.h"
#include "genie/images_file.h"
#include "genie/swing_conv.h"
#include "models/generator.h"

namespace genie {

namespace {

// What one batch optimises, and its optimisers and schedules (docs/METHOD.md, "Optimised jointly").
struct Learners {
  std::unique_ptr<models::Generator> generator;
  Tensor z;       // (B, 256)
  Tensor pixels;  // (B, C, S, S), zeroq and noise only
  std::unique_ptr<engine::Adam> z_opt, generator_opt, pixel_opt;
  std::unique_ptr<engine::ReduceLROnPlateau> z_plateau, pixel_plateau;
  std::unique_ptr<engine::ExponentialLR> generator_decay;

  Tensor images() { return pixels.defined() ? pixels : generator->forward(z); }
};

engine::PlateauOptions plateau_options() {
  engine::PlateauOptions o;  // mode min, relative threshold 1e-4 (PyTorch's defaults)
  o.factor = 0.1;
  o.patience = 100;
  o.min_lr = 1e-4;
  return o;
}

// Everything learned lives on `device`, the model's.
Learners make_learners(DistillMethod method, int batch, int channels, int size, engine::Rng& rng,
                       engine::Device device) {
  Learners l;
  if (method == DistillMethod::ZeroQ || method == DistillMethod::Noise) {
    l.pixels = engine::randn({batch, channels, size, size}, rng, 0.0f, 1.0f, device);
    if (method == DistillMethod::ZeroQ) {
      l.pixels.requires_grad_();
      l.pixel_opt = std::make_unique<engine::Adam>(std::vector<Tensor>{l.pixels}, 0.5f);
      l.pixel_plateau =
          std::make_unique<engine::ReduceLROnPlateau>(*l.pixel_opt, plateau_options());
    }
    return l;
  }
  l.generator = std::make_unique<models::Generator>(channels, size, rng);
  l.generator->to(device);
  l.z = engine::randn({batch, models::Generator::kLatent}, rng, 0.0f, 1.0f, device);
  if (method != DistillMethod::Generator) {
    l.z.requires_grad_();
    l.z_opt = std::make_unique<engine::Adam>(std::vector<Tensor>{l.z}, 0.1f);
    l.z_plateau = std::make_unique<engine::ReduceLROnPlateau>(*l.z_opt, plateau_options());
  }
  if (method == DistillMethod::Latent) {
    l.generator->set_trainable(false);
  } else {
    l.generator_opt = std::make_unique<engine::Adam>(l.generator->parameters(), 0.01f);
    l.generator_decay = std::make_unique<engine::ExponentialLR>(*l.generator_opt, 0.95);
  }
  return l;
}

// One optimisation step of everything that learns; `iteration` counts from 0.
void step(Learners& l, float total_loss, int iteration) {
  for (engine::Adam* opt : {l.z_opt.get(), l.generator_opt.get(), l.pixel_opt.get()})
    if (opt) opt->step();
  if (l.z_plateau) l.z_plateau->step(total_loss);
  if (l.pixel_plateau) l.pixel_plateau->step(total_loss);
  if (l.generator_decay && (iteration + 1) % 100 == 0) l.generator_decay->step();
}

void zero_grads(Learners& l) {
  for (engine::Adam* opt : {l.z_opt.get(), l.generator_opt.get(), l.pixel_opt.get()})
    if (opt) opt->zero_grad();
}

std::string learning_rates(const Learners& l) {
  char s[64];
  if (l.pixel_opt)
    std::snprintf(s, sizeof s, "lr_x=%.3g", l.pixel_opt->lr);
  else
    std::snprintf(s, sizeof s, "lr_z=%.3g lr_g=%.3g", l.z_opt ? l.z_opt->lr : 0.0f,
                  l.generator_opt ? l.generator_opt->lr : 0.0f);
  return s;
}

struct Losses {
  Tensor total, bns, input;
  Tensor images;
};

// Images -> frozen network (eval mode, swing conv on strided convs) -> GENIE-D's loss.
Losses evaluate_losses(models::ResNet& model, Learners& l, bool swing, engine::Rng& swing_rng) {
  std::vector<BnObservation> observed;
  models::ForwardHooks hooks;
  hooks.bn_input = [&](const models::BatchNorm2d& bn, const Tensor& x) {
    observed.push_back({&bn, x});
  };
  if (swing)
    hooks.conv = [&](const models::Conv2d& conv, const Tensor& x) {
      return swing_conv(conv, x, swing_rng);
    };
  Losses out;
  out.images = l.images();
  model.forward(out.images, hooks);
  out.bns = bn_statistics_loss(observed);
  out.input = input_statistics_loss(out.images);
  out.total = engine::add(out.bns, out.input);
  return out;
}

DistilledBatch distill_batch(models::ResNet& model, const DistillConfig& c, int index, int size) {
  // Every batch has its own random streams, so a resumed run repeats the batches it redoes.
  engine::Rng rng(c.seed * 1000003ULL + static_cast<uint64_t>(index));
  engine::Rng swing_rng(rng.next_u64());
  const models::ModelConfig& mc = model.config();
  Learners l = make_learners(c.method, size, mc.in_channels, mc.input_size, rng, model.device());
  DistilledBatch r;
  if (c.method == DistillMethod::Noise || c.iters == 0) {
    engine::NoGrad no_grad;
    Losses losses = evaluate_losses(model, l, c.swing, swing_rng);
    r.images = losses.images;
    r.bns_loss_first = r.bns_loss_last = losses.bns.item();
    return r;
  }
  engine::Progress progress("batch " + std::to_string(index + 1), c.iters);
  std::string status;
  for (int it = 0; it < c.iters; ++it) {
    Losses losses = evaluate_losses(model, l, c.swing, swing_rng);
    float total = losses.total.item();
    if (!std::isfinite(total))
      throw std::runtime_error("distillation diverged at batch " + std::to_string(index + 1) +
                               ", iteration " + std::to_string(it + 1) + " (loss " +
                               std::to_string(total) + "); the finished batches are kept");
    if (it == 0) r.bns_loss_first = losses.bns.item();
    r.bns_loss_last = losses.bns.item();
    r.images = losses.images.detach();
    zero_grads(l);
    losses.total.backward();
    char s[96];
    std::snprintf(s, sizeof s, "loss=%.4g bns=%.4g input=%.4g ", total, losses.bns.item(),
                  losses.input.item());
    status = s + learning_rates(l);
    step(l, total, it);
    if (c.progress) progress.update(it + 1, status);
    if (c.observer && c.observer->distill_step)
      c.observer->distill_step(index, it + 1, losses.bns.item(), losses.input.item());
  }
  if (c.progress) progress.finish(status);
  return r;
}

// The finished batches of an earlier run with the same settings and shard in `c.out`.
std::vector<DistilledBatch> load_progress(const DistillConfig& c, const models::ResNet& model) {
  ImagesFile file = read_images_file(c.out);
  SettingDifference d = first_difference(file.settings, images_settings(model.config().arch, c));
  if (!d.key.empty())
    throw engine::FileError(c.out + ": cannot resume: it was made with " + d.key + "=" +
                            d.first_value + ", this run has " + d.key + "=" + d.second_value);
  const models::ModelConfig& mc = model.config();
  const engine::Shape image{mc.in_channels, mc.input_size, mc.input_size};
  for (const DistilledBatch& b : file.batches) {
    const engine::Shape& shape = b.images.shape();
    if (engine::Shape(shape.begin() + 1, shape.end()) != image)
      throw engine::FileError(c.out + ": cannot resume: images of shape " +
                              engine::shape_str(shape) + ", the model takes " +
                              engine::shape_str(image));
  }
  return file.batches;
}

void check(const DistillConfig& c, const models::ResNet& model) {
  if (c.num_images < 1 || c.batch < 1 || c.iters < 0)
    throw std::invalid_argument("--num and --batch must be >= 1 and --iters >= 0");
  if (c.batch < 2 && c.method != DistillMethod::Noise)
    throw std::invalid_argument("--batch must be at least 2: BN statistics need a batch");
  int batches = images_settings(model.config().arch, c).run_batches();
  if (c.shards < 1 || c.shard < 0 || c.shard >= c.shards || c.shards > batches)
    throw std::invalid_argument(
        "--shard " + std::to_string(c.shard) + "/" + std::to_string(c.shards) +
        " must be i/n with 0 <= i < n <= " + std::to_string(batches) + ", the run's batches");
  if (model.config().input_size % 4 != 0)
    throw std::invalid_argument(
        "GENIE-D's generator needs an input size divisible by 4, the "
        "model takes " +
        std::to_string(model.config().input_size));
}

}  // namespace

DistillMethod parse_distill_method(const std::string& name) {
  if (name == "genie") return DistillMethod::Genie;
  if (name == "zeroq") return DistillMethod::ZeroQ;
  if (name == "latent") return DistillMethod::Latent;
  if (name == "generator") return DistillMethod::Generator;
  if (name == "noise") return DistillMethod::Noise;
  throw std::invalid_argument("--method must be genie, zeroq, latent, generator or noise, got '" +
                              name + "'");
}

std::string method_name(DistillMethod method) {
  switch (method) {
    case DistillMethod::Genie:
      return "genie";
    case DistillMethod::ZeroQ:
      return "zeroq";
    case DistillMethod::Latent:
      return "latent";
    case DistillMethod::Generator:
      return "generator";
    case DistillMethod::Noise:
      return "noise";
  }
  return "?";
}

DistillResult distill(models::ResNet& model, const DistillConfig& c) {
  check(c, model);
  auto start = std::chrono::steady_clock::now();
  model.set_trainable(false);
  ImagesFile file;
  file.settings = images_settings(model.config().arch, c);
  if (c.resume && !c.out.empty() && std::filesystem::exists(c.out)) {
    file.batches = load_progress(c, model);
    std::fprintf(stderr, "resuming %s after %zu finished batches\n", c.out.c_str(),
                 file.batches.size());
  }
  const ImagesSettings& s = file.settings;
  for (int k = static_cast<int>(file.batches.size()); k < s.held_batches(); ++k) {
    int b = s.global_batch(k);
    file.batches.push_back(distill_batch(model, c, b, s.batch_size(b)));
    if (c.observer && c.observer->distill_batch_done) c.observer->distill_batch_done(b);
    if (!c.out.empty()) write_images_file(c.out, file);
  }
  DistillResult r;
  r.images = concatenate(file.batches);
  for (const DistilledBatch& b : file.batches) {
    r.bns_loss_first += b.bns_loss_first / file.batches.size();
    r.bns_loss_last += b.bns_loss_last / file.batches.size();
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace genie
