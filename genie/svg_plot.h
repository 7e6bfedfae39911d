// Plots as inline SVG text for the run report (genie/report_page.h): lines or points against
// linear or logarithmic axes, and histograms. Plain SVG 1.1, no script, no external reference.
#pragma once

#include <string>
#include <vector>

namespace genie {

struct Series {
  std::string name;  // the legend's label
  std::vector<double> x, y;
};

struct Plot {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;  // a log axis leaves out values <= 0
  bool points = false;                // points instead of lines
  bool diagonal = false;              // the reference line y = x
  std::vector<Series> series;
};

// The plot as one <svg class="plot"> element; non-finite values are left out, and a plot
// without any value says so.
std::string svg_plot(const Plot& plot);
// `counts` of equal-width bins over [lo, hi] as bars, one <svg class="plot"> element.
std::string svg_histogram(const std::string& title, const std::string& x_label,
                          const std::vector<double>& counts, double lo, double hi);

// Text made safe inside XML and HTML elements and attributes.
std::string xml_escape(const std::string& text);

}  // namespace genie
