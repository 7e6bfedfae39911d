// The run's report page; see report_page.h.
#include "genie/report_page.h"

#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "engine/dataset/dataset.h"
#include "engine/tensor_file.h"
#include "genie/run_trace.h"
#include "genie/svg_plot.h"
#include "models/model_file.h"

namespace genie {

namespace {

constexpr int kImagesShown = 32;  // of each kind
constexpr int kImagePixels = 84;  // at least this many a side on the page
constexpr const char* kStyle =
    "body{font-family:sans-serif;margin:24px;max-width:1400px;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:right}th{background:#f0f0f0}td:first-child{text-align:left}"
    ".images img{margin:2px}.plots svg{margin:4px;border:1px solid #eee}"
    "figure{display:inline-block;margin:4px}";

std::string base64(const std::vector<uint8_t>& bytes) {
  static const char kDigits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = bytes[i] << 16;
    if (i + 1 < bytes.size()) n |= bytes[i + 1] << 8;
    if (i + 2 < bytes.size()) n |= bytes[i + 2];
    out += kDigits[(n >> 18) & 63];
    out += kDigits[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kDigits[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kDigits[n & 63] : '=';
  }
  return out;
}

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}

// Image i of (N, C, S, S) pixel values in [0, 1] as an <img>, enlarged by nearest neighbour.
std::string image_tag(const std::vector<float>& values, int i, int c, int s) {
  const int scale = std::max(1, (kImagePixels + s - 1) / s), side = s * scale;
  std::vector<uint8_t> pixels(static_cast<size_t>(side) * side * c);
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x)
      for (int ch = 0; ch < c; ++ch) {
        float v = values[((static_cast<size_t>(i) * c + ch) * s + y / scale) * s + x / scale];
        pixels[(static_cast<size_t>(y) * side + x) * c + ch] =
            static_cast<uint8_t>(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f));
      }
  std::vector<uint8_t> png;
  if (!stbi_write_png_to_func(append_bytes, &png, side, side, c, pixels.data(), side * c))
    throw std::runtime_error("cannot encode an image as PNG");
  return "<img alt=\"\" width=\"" + std::to_string(side) + "\" height=\"" + std::to_string(side) +
         "\" src=\"data:image/png;base64," + base64(png) + "\">";
}

// The first images of a tensor (N, C, S, S) of pixel values in [0, 1].
std::string image_row(const engine::Tensor& images) {
  const std::vector<float> values = images.values();
  std::string s = "<div class=\"images\">";
  for (int i = 0; i < std::min(kImagesShown, images.size(0)); ++i)
    s += image_tag(values, i, images.size(1), images.size(2));
  return s + "</div>";
}

// The distilled images, taken out of the model's normalisation: x * std + mean.
engine::Tensor distilled_pixels(const std::string& out_dir, const RunInfo& info,
                                const models::ModelConfig& mc) {
  const std::string path = out_dir + "/distilled_" + info.budget + ".gwt";
  if (!std::filesystem::exists(path)) throw engine::FileError(path + ": missing");
  engine::TensorFile f = engine::read_tensor_file(path);
  const engine::Tensor* images = f.tensor("images");
  if (!images || images->ndim() != 4 || images->size(1) != mc.in_channels)
    throw engine::FileError(path + ": expected images (N, " + std::to_string(mc.in_channels) +
                            ", S, S)");
  std::vector<float> values = images->values();
  const int64_t plane = images->numel() / (images->size(0) * images->size(1));
  for (size_t i = 0; i < values.size(); ++i) {
    int ch = static_cast<int>(i / plane % images->size(1));
    values[i] = values[i] * mc.std[ch] + mc.mean[ch];
  }
  return engine::Tensor(images->shape(), values);
}

engine::Tensor real_pixels(const RunInfo& info, const models::ModelConfig& mc) {
  auto test = engine::open_dataset(info.data, {mc.in_channels, mc.input_size}, engine::Split::Test);
  std::vector<int64_t> indices(std::min<int64_t>(kImagesShown, test->size()));
  std::iota(indices.begin(), indices.end(), 0);
  return test->load(indices).images;
}

std::string results_table(const std::vector<ResultRow>& rows) {
  std::string s =
      "<table id=\"results\"><tr><th>method</th><th>bits</th><th>calibration</th><th>top1</th>"
      "<th>drop</th><th>seconds</th><th>size_MB</th></tr>";
  char cells[160];
  for (const ResultRow& r : rows) {
    std::snprintf(cells, sizeof cells, "<td>%.2f</td><td>%.2f</td><td>%.1f</td><td>%.3f</td>",
                  r.top1, r.drop, r.seconds, r.megabytes);
    s += "<tr><td>" + xml_escape(r.method) + "</td><td>" + xml_escape(r.bits) + "</td><td>" +
         xml_escape(r.calibration) + "</td>" + cells + "</tr>";
  }
  return s + "</table>";
}

std::string distill_plot(const std::vector<DistillCurve>& batches) {
  Plot p;
  p.title = "GENIE-D: BN-statistics loss per batch";
  p.x_label = "iteration";
  p.y_label = "BN-statistics loss (log)";
  p.log_y = true;
  for (size_t b = 0; b < batches.size(); ++b)
    p.series.push_back(
        {"batch " + std::to_string(b + 1), batches[b].iteration, batches[b].bns_loss});
  return svg_plot(p);
}

std::string unit_plot(const UnitCurve& u) {
  std::string stage = u.stage == "-" ? "" : " (" + u.stage + ")";
  Plot p;
  p.title = "unit " + std::to_string(u.unit + 1) + ": " + u.unit_name + stage;
  p.x_label = "iteration";
  p.y_label = "loss, beta (log)";
  p.log_y = true;
  p.series = {{"reconstruction", u.iteration, u.reconstruction},
              {"rounding", u.iteration, u.rounding},
              {"beta", u.iteration, u.beta}};
  return svg_plot(p);
}

double mean_step_ratio(const LayerRecord& l) {
  double sum = 0;
  for (size_t k = 0; k < l.initial_step.size(); ++k) sum += l.learned_step[k] / l.initial_step[k];
  return l.initial_step.empty() ? 0 : sum / l.initial_step.size();
}

std::string layer_table(const std::vector<LayerRecord>& layers) {
  std::string s =
      "<table id=\"layers\"><tr><th>layer</th><th>unit</th><th>bits</th><th>weights</th>"
      "<th>rounded away from nearest</th><th>mean learned / initial step</th></tr>";
  char cells[200];
  for (const LayerRecord& l : layers) {
    std::snprintf(cells, sizeof cells,
                  "<td>%d</td><td>%d</td><td>%.0f</td><td>%.2f%%</td><td>%.4f</td>", l.unit + 1,
                  l.bits, l.weights, 100 * l.away_from_nearest, mean_step_ratio(l));
    s += "<tr><td>" + xml_escape(l.name) + "</td>" + cells + "</tr>";
  }
  return s + "</table>";
}

std::string step_scatter(const std::vector<LayerRecord>& layers) {
  Plot p;
  p.title = "weight steps: learned against initial (clip search), one per channel";
  p.x_label = "initial step (log)";
  p.y_label = "learned step (log)";
  p.log_x = p.log_y = p.points = p.diagonal = true;
  Series all{"channels", {}, {}};
  for (const LayerRecord& l : layers) {
    all.x.insert(all.x.end(), l.initial_step.begin(), l.initial_step.end());
    all.y.insert(all.y.end(), l.learned_step.begin(), l.learned_step.end());
  }
  p.series = {all};
  return svg_plot(p);
}

std::string section(const std::string& id, const std::string& heading, const std::string& body) {
  return "<section id=\"" + id + "\"><h2>" + heading + "</h2>" + body + "</section>\n";
}

std::string page(const std::string& out_dir, const RunTrace& t, const models::ModelConfig& mc) {
  const RunInfo& info = t.info;
  std::string bits =
      "W" + std::to_string(info.weight_bits) + "A" + std::to_string(info.activation_bits);
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "img-src data:; style-src 'unsafe-inline'\">"
      "<title>genie run " +
      xml_escape(bits) + " " + xml_escape(info.budget) + "</title><style>" + kStyle +
      "</style></head><body>\n<h1>genie run: " + xml_escape(mc.arch) + " at " + xml_escape(bits) +
      ", budget " + xml_escape(info.budget) + "</h1>\n<p>From " + xml_escape(out_dir) +
      "; test data " + xml_escape(info.data) + ".</p>\n";
  html += section("result-table", "Results (top-1 on the test images)", results_table(t.results));
  html += section("images", "Distilled images (GENIE-D) and real test images",
                  "<h3>distilled</h3>" + image_row(distilled_pixels(out_dir, info, mc)) +
                      "<h3>real</h3>" + image_row(real_pixels(info, mc)));
  html += section("distillation", "GENIE-D",
                  "<div class=\"plots\">" + distill_plot(t.distill) + "</div>");
  std::string units =
      "<p>The rounding loss starts after 20% of the iterations; beta falls from 20 to 2.</p><div "
      "class=\"plots\">";
  for (const UnitCurve& u : t.units) units += unit_plot(u);
  html += section("units", "GENIE-M per unit: losses and beta", units + "</div>");
  std::string histograms = "<div class=\"plots\">";
  for (const LayerRecord& l : t.layers)
    histograms +=
        svg_histogram(l.name + ": h(V) before hardening", "h(V)", l.soft_bit_histogram, 0, 1);
  html +=
      section("layers", "GENIE-M per layer",
              layer_table(t.layers) + "<div class=\"plots\">" + step_scatter(t.layers) +
                  "</div><h3>soft bits h(V) just before hardening</h3>" + histograms + "</div>");
  return html + "</body></html>\n";
}

}  // namespace

void write_report(const std::string& out_dir, const std::string& report_dir) {
  RunTrace trace = read_run_trace(out_dir);
  const std::string model_path = out_dir + "/fp32.gw";
  if (!std::filesystem::exists(model_path)) throw engine::FileError(model_path + ": missing");
  models::ResNet model = models::load_model(model_path);
  std::string html = page(out_dir, trace, model.config());
  std::filesystem::create_directories(report_dir);
  engine::write_file_atomically(report_dir + "/index.html",
                                std::vector<uint8_t>(html.begin(), html.end()));
}

}  // namespace genie
