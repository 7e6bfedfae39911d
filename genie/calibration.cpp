// Calibration images; see calibration.h.
#include "genie/calibration.h"

#include <algorithm>

#include "engine/dataset/dataset.h"
#include "engine/tensor_file.h"
#include "models/evaluate.h"

namespace genie {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

engine::Tensor distilled_images(models::ResNet& model, const std::string& path) {
  engine::TensorFile f = engine::read_tensor_file(path);
  const engine::Tensor* images = f.tensor("images");
  const models::ModelConfig& c = model.config();
  if (!images || images->ndim() != 4 || images->size(1) != c.in_channels ||
      images->size(2) != c.input_size || images->size(3) != c.input_size)
    throw engine::FileError(path + ": expected a tensor 'images' of shape (N, " +
                            std::to_string(c.in_channels) + ", " + std::to_string(c.input_size) +
                            ", " + std::to_string(c.input_size) + ") for this model");
  return *images;
}

}  // namespace

bool is_images_file(const std::string& source) { return ends_with(source, ".gwt"); }

engine::Tensor load_calibration(models::ResNet& model, const std::string& source, int num_images,
                                uint64_t seed) {
  if (is_images_file(source)) return distilled_images(model, source);
  const models::ModelConfig& c = model.config();
  auto data = engine::open_dataset(source, {c.in_channels, c.input_size}, engine::Split::Train);
  engine::say_transform(*data);
  std::vector<int> order(data->size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  engine::Rng rng(seed);
  rng.shuffle(order);
  int n = std::min<int>(num_images, static_cast<int>(order.size()));
  std::vector<int64_t> idx(order.begin(), order.begin() + n);
  return models::load_normalized(model, *data, idx).images;
}

}  // namespace genie
