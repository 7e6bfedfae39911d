// The run report's parts: the SVG plot writer, the TSV tables, and the run trace's round trip
// (what a recorder writes, read_run_trace reads back). Recording changes no result: a
// quantization watched by the recorder gives the same codes and steps as one that is not.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/tensor_file.h"
#include "genie/quantize.h"
#include "genie/run_trace.h"
#include "genie/svg_plot.h"
#include "genie/tsv.h"
#include "tests/tiny_models.h"

namespace fs = std::filesystem;

namespace {

int count(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// A scratch folder removed when the test ends.
struct Scratch {
  fs::path path = fs::temp_directory_path() / ("genie_report_" + std::to_string(getpid()));
  Scratch() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Scratch() { fs::remove_all(path); }
  std::string str() const { return path.string(); }
};

std::unique_ptr<genie::QuantizedResNet> quantize_tiny(models::ResNet& m, const genie::Observer* o) {
  engine::Rng rng(3);
  engine::Tensor calibration = engine::randn({16, 1, 8, 8}, rng);
  genie::QuantConfig c;
  c.iters = 10;
  c.progress = false;
  c.observer = o;
  return genie::quantize(m, calibration, c);
}

}  // namespace

TEST_CASE("svg_plot draws each series, breaks lines at values a log axis cannot show") {
  genie::Plot p;
  p.title = "a <title> & more";
  p.log_y = true;
  p.series = {{"one", {1, 2, 3, 4}, {1, 0, 10, 100}}, {"two", {1, 2}, {5, 6}}};
  std::string svg = genie::svg_plot(p);
  CHECK(svg.rfind("<svg class=\"plot\"", 0) == 0);
  CHECK(svg.substr(svg.size() - 6) == "</svg>");
  CHECK(count(svg, "<polyline") == 3);  // "one" broken at its 0, "two" whole
  CHECK(svg.find("a &lt;title&gt; &amp; more") != std::string::npos);
  CHECK(svg.find("<script") == std::string::npos);
  CHECK(svg.find("http") == std::string::npos);
}

TEST_CASE("svg_plot says when nothing can be plotted, and draws points and the diagonal") {
  genie::Plot empty;
  empty.series = {{"nan", {1}, {std::nan("")}}};
  CHECK(genie::svg_plot(empty).find("no values to plot") != std::string::npos);
  genie::Plot scatter;
  scatter.points = scatter.diagonal = scatter.log_x = scatter.log_y = true;
  scatter.series = {{"steps", {0.01, 0.02, 0.03}, {0.011, 0.019, 0.03}}};
  std::string svg = genie::svg_plot(scatter);
  CHECK(count(svg, "<circle") == 3);
  CHECK(count(svg, "stroke-dasharray") == 1);
}

TEST_CASE("svg_histogram draws one bar per bin") {
  std::string svg = genie::svg_histogram("h", "h(V)", {3, 0, 1, 7}, 0, 1);
  CHECK(count(svg, "fill=\"#1f77b4\"") == 4);
}

TEST_CASE("a TSV table reads back as written; a wrong header or row names the file") {
  Scratch dir;
  const std::string path = dir.str() + "/t.tsv";
  genie::Tsv t{{"a", "b"}, {{"x", genie::tsv_field(0.1f)}, {"y", genie::tsv_field(-2.5)}}};
  genie::write_tsv(path, t);
  genie::Tsv back = genie::read_tsv(path, {"a", "b"});
  CHECK(back.rows == t.rows);
  CHECK(static_cast<float>(genie::tsv_number(back, 0, "b", path)) == 0.1f);
  CHECK_THROWS_WITH_AS(genie::read_tsv(path, {"a", "c"}), doctest::Contains("t.tsv: expected"),
                       engine::FileError);
  CHECK_THROWS_WITH_AS(genie::read_tsv(dir.str() + "/none.tsv", {"a"}),
                       doctest::Contains("none.tsv: missing"), engine::FileError);
  std::ofstream(path, std::ios::app) << "z\n";
  CHECK_THROWS_WITH_AS(genie::read_tsv(path, {"a", "b"}), doctest::Contains("line 4 has 1"),
                       engine::FileError);
  genie::Tsv word{{"v"}, {{"many"}}};
  CHECK_THROWS_WITH_AS(genie::tsv_number(word, 0, "v", "f.tsv"),
                       doctest::Contains("f.tsv: line 2, column v: expected a number"),
                       engine::FileError);
}

TEST_CASE("the run trace reads back as recorded, and recording changes no result") {
  Scratch dir;
  const std::string out = dir.str();
  genie::write_run_info(out, {"", "fashion-mnist", "smoke", 2, 3, 4});
  genie::write_results(out, {{"genie", "W3A4", "genie-d", 91.5, 1.25, 12.0, 0.1}});
  genie::DistillRecorder distill(out, "smoke");
  for (int batch = 0; batch < 2; ++batch) {
    for (int it = 1; it <= genie::kDenseIterations + 25; ++it)
      distill.observer().distill_step(batch, it, 1.0f / it, 0.5f);
    distill.observer().distill_batch_done(batch);
  }
  models::ResNet watched(testing::tiny_resnet20(), 1), plain(testing::tiny_resnet20(), 1);
  genie::QuantizeRecorder recorder;
  auto q_watched = quantize_tiny(watched, &recorder.observer());
  auto q_plain = quantize_tiny(plain, nullptr);
  for (auto& [name, layer] : q_plain->layers()) {
    CAPTURE(name);
    const genie::WeightQuantizer& w = *q_watched->layer(name).weight;
    CHECK(w.codes().codes == layer.weight->codes().codes);
    CHECK(w.step.values() == layer.weight->step.values());
  }
  recorder.write(out);

  genie::RunTrace t = genie::read_run_trace(out);
  CHECK(t.info.budget == "smoke");
  CHECK(t.info.model.empty());
  CHECK(t.info.weight_bits == 3);
  REQUIRE(t.results.size() == 1);
  CHECK(t.results[0].top1 == 91.5);
  REQUIRE(t.distill.size() == 2);
  // Every iteration up to 2000, then every 10th: 2010 and 2020 of the last 25.
  CHECK(t.distill[1].iteration.size() == genie::kDenseIterations + 2);
  CHECK(t.distill[1].iteration.back() == genie::kDenseIterations + 20);
  CHECK(static_cast<float>(t.distill[0].bns_loss[3]) == 0.25f);
  REQUIRE(t.units.size() == static_cast<size_t>(watched.num_units()));
  CHECK(t.units[0].unit_name == watched.unit_name(0));
  CHECK(t.units[0].iteration.size() == 10);
  CHECK(t.units[0].beta.front() == 20);
  CHECK(t.layers.size() == q_plain->layers().size());
  for (const genie::LayerRecord& l : t.layers) {
    CAPTURE(l.name);
    CHECK(l.initial_step.size() == l.learned_step.size());
    CHECK(l.away_from_nearest >= 0);
    CHECK(l.away_from_nearest <= 1);
    double histogram = 0;
    for (double c : l.soft_bit_histogram) histogram += c;
    CHECK(histogram == l.weights);
  }
}
