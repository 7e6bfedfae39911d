// The training loop; see train.h.
#include "models/train.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/dataset/dataset.h"
#include "engine/lr_schedule.h"
#include "engine/optim.h"
#include "engine/progress.h"
#include "models/evaluate.h"
#include "models/model_file.h"

namespace models {

std::string checkpoint_path(const TrainConfig& c) { return c.out + ".ckpt"; }

namespace {

void save_checkpoint(const TrainConfig& c, ResNet& model, engine::Optimizer& opt,
                     engine::EpochSchedule& schedule, int epochs_done) {
  engine::TensorFile f = model_to_file(model);
  f.set_meta("train_epochs_done", std::to_string(epochs_done));
  for (auto& [name, t] : opt.state()) f.tensors.push_back({"optimizer." + name, t});
  std::vector<float> s = schedule.state();
  f.tensors.push_back({"schedule", engine::Tensor({static_cast<int>(s.size())}, s)});
  engine::write_tensor_file(checkpoint_path(c), f);
}

// Restores model, optimizer and schedule; returns the number of epochs already done.
int load_checkpoint(const TrainConfig& c, ResNet& model, engine::Optimizer& opt,
                    engine::EpochSchedule& schedule) {
  std::string path = checkpoint_path(c);
  engine::TensorFile f = engine::read_tensor_file(path);
  engine::TensorFile weights;
  weights.metadata = f.metadata;
  engine::NamedTensors opt_state;
  for (auto& [name, t] : f.tensors) {
    if (name.rfind("optimizer.", 0) == 0)
      opt_state.push_back({name.substr(10), t});
    else if (name != "schedule")
      weights.tensors.push_back({name, t});
  }
  ResNet loaded = model_from_file(weights, path);
  if (loaded.config().arch != model.config().arch)
    throw engine::FileError(path + ": checkpoint is a " + loaded.config().arch + ", not a " +
                            model.config().arch);
  auto dst = model.named_tensors();
  auto src = loaded.named_tensors();
  for (size_t i = 0; i < dst.size(); ++i) dst[i].second->copy_from(*src[i].second);
  opt.load_state(opt_state);
  const engine::Tensor* s = f.tensor("schedule");
  if (!s) throw engine::FileError(path + ": missing tensor 'schedule'");
  schedule.load_state(s->values());
  const std::string* done = f.meta("train_epochs_done");
  if (!done) throw engine::FileError(path + ": missing metadata 'train_epochs_done'");
  return std::stoi(*done);
}

// One pass over the shuffled training set; returns (mean loss, train accuracy %).
std::pair<double, double> train_epoch(ResNet& model, const engine::Dataset& data, int64_t n,
                                      const TrainConfig& c, engine::Optimizer& opt,
                                      engine::Rng& rng, int epoch) {
  std::vector<int> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = static_cast<int>(i);
  rng.shuffle(order);
  int64_t steps = n / c.batch;  // the last partial batch is dropped, as drop_last=True
  engine::Progress progress("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(c.epochs),
                            steps);
  double loss_sum = 0.0;
  int64_t correct = 0, seen = 0;
  char status[96] = "";
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<int64_t> idx(order.begin() + s * c.batch, order.begin() + (s + 1) * c.batch);
    engine::Batch b = data.load(idx);
    auto [logits, loss] = train_step(model, b, c, opt, rng);
    loss_sum += loss.item();
    int classes = logits.size(1);
    const std::vector<float> scores = logits.values();  // the result, read on the host
    for (int i = 0; i < c.batch; ++i) {
      const float* row = scores.data() + i * classes;
      int best = 0;
      for (int k = 1; k < classes; ++k)
        if (row[k] > row[best]) best = k;
      correct += best == b.labels[i];
    }
    seen += c.batch;
    if (!std::isfinite(loss.item()))
      throw std::runtime_error("training diverged (loss is " + std::to_string(loss.item()) +
                               "); try a lower --lr");
    std::snprintf(status, sizeof status, "loss=%.4f acc=%.2f lr=%.4g", loss_sum / (s + 1),
                  100.0 * correct / seen, opt.lr);
    progress.update(s + 1, status);
  }
  progress.finish(status);
  return {loss_sum / std::max<int64_t>(steps, 1), 100.0 * correct / std::max<int64_t>(seen, 1)};
}

}  // namespace

engine::Sgd recipe_optimizer(ResNet& model, const TrainConfig& c) {
  return engine::Sgd(model.parameters(), c.lr, {c.momentum, c.weight_decay});
}

StepResult train_step(ResNet& model, engine::Batch& b, const TrainConfig& c, engine::Optimizer& opt,
                      engine::Rng& rng) {
  engine::augment(b.images, c.crop_padding, c.flip, rng);
  engine::normalize(b.images, model.config().mean, model.config().std);
  ForwardHooks hooks;
  hooks.train_bn = true;
  engine::Tensor logits = model.forward(b.images.to(model.device()), hooks);
  engine::Tensor loss = engine::softmax_cross_entropy(logits, b.labels);
  opt.zero_grad();
  loss.backward();
  opt.step();
  return {logits, loss};
}

ModelConfig config_for_dataset(const std::string& arch, char shortcut, const std::string& spec,
                               int num_classes) {
  ModelConfig c;
  c.arch = arch;
  c.shortcut = shortcut;
  c.num_classes = num_classes;
  if (spec.rfind("fashion-mnist", 0) == 0) {
    c.in_channels = 1;
    c.input_size = 28;
    c.mean = {0.2860f};  // Fashion-MNIST training-set pixel mean and std
    c.std = {0.3530f};
  } else if (spec.rfind("cifar10", 0) == 0) {
    c.in_channels = 3;
    c.input_size = 32;
    c.mean = {0.4914f, 0.4822f, 0.4465f};  // CIFAR-10 training-set statistics
    c.std = {0.2470f, 0.2435f, 0.2616f};
  } else {
    throw std::invalid_argument(
        "genie train supports --data fashion-mnist[:DIR] or cifar10:DIR, "
        "got '" +
        spec + "'");
  }
  return c;
}

double train(const TrainConfig& c) {
  if (c.out.empty()) throw std::invalid_argument("--out is required");
  if (c.epochs < 1 || c.batch < 1) throw std::invalid_argument("--epochs and --batch must be >= 1");
  ModelConfig probe = config_for_dataset(c.arch, c.shortcut, c.data, 10);
  engine::ImageSpec spec{probe.in_channels, probe.input_size};
  auto train_set = engine::open_dataset(c.data, spec, engine::Split::Train);
  auto test_set = engine::open_dataset(c.data, spec, engine::Split::Test);
  ResNet model(config_for_dataset(c.arch, c.shortcut, c.data, train_set->num_classes()), c.seed);
  model.to(c.device);  // before the optimizer takes its handles
  engine::Sgd opt = recipe_optimizer(model, c);
  engine::CosineAnnealingLR schedule(opt, c.epochs);
  int start = 0;
  if (c.resume && std::filesystem::exists(checkpoint_path(c))) {
    start = load_checkpoint(c, model, opt, schedule);
    std::fprintf(stderr, "resuming %s after epoch %d\n", checkpoint_path(c).c_str(), start);
  }
  int64_t n = c.limit > 0 ? std::min<int64_t>(c.limit, train_set->size()) : train_set->size();
  std::fprintf(stderr, "training %s on %s, %lld of its images, %d epochs\n", c.arch.c_str(),
               train_set->describe().c_str(), static_cast<long long>(n), c.epochs);
  double top1 = 0.0;
  for (int epoch = start; epoch < c.epochs; ++epoch) {
    engine::Rng rng(c.seed * 1000003ULL + static_cast<uint64_t>(epoch));
    auto [loss, acc] = train_epoch(model, *train_set, n, c, opt, rng, epoch);
    schedule.step();
    top1 = evaluate(model, *test_set, 500).top1;
    std::printf("epoch=%d loss=%.4f train_top1=%.2f test_top1=%.2f\n", epoch + 1, loss, acc, top1);
    std::fflush(stdout);
    save_checkpoint(c, model, opt, schedule, epoch + 1);
  }
  save_model(c.out, model);
  std::filesystem::remove(checkpoint_path(c));
  return top1;
}

}  // namespace models
