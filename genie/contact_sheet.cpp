// The contact sheet PNG; see contact_sheet.h.
#include "genie/contact_sheet.h"

#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "engine/tensor_file.h"

namespace genie {

void write_contact_sheet(const std::string& path, const engine::Tensor& images,
                         const std::vector<float>& mean, const std::vector<float>& std,
                         int max_images) {
  if (images.ndim() != 4 || (images.size(1) != 1 && images.size(1) != 3))
    throw std::invalid_argument("a contact sheet needs images (N, 1 or 3, H, W), got " +
                                engine::shape_str(images.shape()));
  const int n = std::min(images.size(0), max_images), c = images.size(1);
  const int h = images.size(2), w = images.size(3);
  const int scale = std::max(1, (64 + std::max(h, w) - 1) / std::max(h, w));
  const int columns = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))));
  const int rows = (n + columns - 1) / columns, gap = 2;
  const int width = columns * (w * scale + gap) + gap, height = rows * (h * scale + gap) + gap;
  std::vector<uint8_t> pixels(static_cast<size_t>(width) * height * c, 255);
  const std::vector<float> values = images.values();  // an image file is an edge: host copy
  for (int i = 0; i < n; ++i) {
    int x0 = gap + (i % columns) * (w * scale + gap), y0 = gap + (i / columns) * (h * scale + gap);
    for (int y = 0; y < h * scale; ++y)
      for (int x = 0; x < w * scale; ++x)
        for (int ch = 0; ch < c; ++ch) {
          float v = values[((static_cast<int64_t>(i) * c + ch) * h + y / scale) * w + x / scale];
          float pixel = std::clamp(v * std[ch] + mean[ch], 0.0f, 1.0f);
          pixels[(static_cast<size_t>(y0 + y) * width + x0 + x) * c + ch] =
              static_cast<uint8_t>(std::lround(pixel * 255.0f));
        }
  }
  if (!stbi_write_png(path.c_str(), width, height, c, pixels.data(), width * c))
    throw engine::FileError(path + ": cannot write the contact sheet");
}

}  // namespace genie
