// `genie info FILE`: what a genie tensor file holds (data/FORMAT.md): its format version,
// metadata and tensors, and by kind: a quantized model's bits per layer, method and placement;
// distilled images' count, shape and how they were made. The file is read (and so verified)
// whole before anything is printed.
#include <cstdio>
#include <fstream>
#include <set>

#include "engine/tensor_file.h"
#include "genie/quantized_file.h"
#include "tools/cli/commands.h"

namespace cli {

namespace {

// The version field: bytes 4..7, little-endian (the reader has already checked it).
unsigned format_version(const std::string& path) {
  unsigned char header[8] = {};
  std::ifstream(path, std::ios::binary).read(reinterpret_cast<char*>(header), sizeof header);
  return header[4] | header[5] << 8 | header[6] << 16 | static_cast<unsigned>(header[7]) << 24;
}

std::string meta_or(const engine::TensorFile& f, const std::string& key, const char* fallback) {
  const std::string* v = f.meta(key);
  return v ? *v : fallback;
}

void print_tensors(const engine::TensorFile& f) {
  int64_t values = 0, code_values = 0, code_bytes = 0;
  for (const auto& [name, t] : f.tensors) values += t.numel();
  for (const auto& [name, c] : f.codes) {
    code_values += static_cast<int64_t>(c.codes.size());
    code_bytes += (static_cast<int64_t>(c.codes.size()) * c.bits + 7) / 8;
  }
  std::printf(
      "tensors=%zu float_tensors=%zu float_values=%lld code_tensors=%zu codes=%lld "
      "code_bytes=%lld\n",
      f.tensors.size() + f.codes.size(), f.tensors.size(), static_cast<long long>(values),
      f.codes.size(), static_cast<long long>(code_values), static_cast<long long>(code_bytes));
}

// Bits per layer in network order, and where activations are quantized.
void print_quantized(const engine::TensorFile& f, const std::string& path) {
  genie::LoadedQuantizedModel q = genie::load_quantized(f, path);
  const genie::QuantPolicy& policy = q.quantized->policy();
  std::printf("quantized method=%s wbits=%s abits=%s first_last=%s skip_input=%s\n",
              meta_or(f, "method", "?").c_str(), meta_or(f, "wbits", "?").c_str(),
              meta_or(f, "abits", "?").c_str(), meta_or(f, "first_last", "?").c_str(),
              genie::skip_input_name(policy.skip_input).c_str());
  std::printf(
      "placement: a block's first conv and projection shortcut quantize the block input with one "
      "quantizer; a parameter-free shortcut reads it %s; the stem's input stays float\n",
      policy.skip_input == genie::SkipInput::quantized ? "quantized" : "float");
  std::set<std::string> block_inputs;
  for (const models::Block& b : q.model->blocks()) {
    block_inputs.insert(b.convs[0].name);
    if (b.projection) block_inputs.insert(b.shortcut_conv.name);
  }
  std::vector<std::string> order;
  for (models::Conv2d* c : q.model->convs()) order.push_back(c->name);
  order.push_back(q.model->classifier().name);
  for (const std::string& name : order) {
    genie::QuantizedLayer& l = q.quantized->layer(name);
    std::string input = "float";
    if (l.input)
      input = std::to_string(l.input->bits()) + (l.input->is_signed() ? " signed" : " unsigned");
    std::printf("  %-22s weight_bits=%d input=%s%s\n", name.c_str(), l.weight->bits(),
                input.c_str(), block_inputs.count(name) ? " (block input)" : "");
  }
}

void print_images(const engine::TensorFile& f) {
  const engine::Tensor* images = f.tensor("images");
  if (!images) return;
  std::printf("images count=%d shape=%s\n", images->ndim() > 0 ? images->size(0) : 0,
              engine::shape_str(images->shape()).c_str());
}

}  // namespace

int describe_file(const std::string& path) {
  engine::TensorFile f = engine::read_tensor_file(path);
  const char* kind = genie::is_quantized_file(f) ? "quantized model"
                     : f.tensor("images")        ? "images"
                     : f.meta("arch")            ? "model"
                                                 : "tensors";
  std::printf("file=%s kind=%s version=%u\n", path.c_str(), kind, format_version(path));
  for (const auto& [key, value] : f.metadata)
    std::printf("  %s=%s\n", key.c_str(),
                value.size() > 100 ? (value.substr(0, 100) + "...").c_str() : value.c_str());
  print_tensors(f);
  if (genie::is_quantized_file(f)) print_quantized(f, path);
  print_images(f);
  return 0;
}

}  // namespace cli
