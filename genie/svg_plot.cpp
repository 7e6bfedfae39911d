// Inline SVG plots; see svg_plot.h.
#include "genie/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace genie {

namespace {

constexpr double kWidth = 460, kHeight = 260;
constexpr double kLeft = 62, kRight = 12, kTop = 26, kBottom = 40;
const char* const kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string format(const char* pattern, double a, double b = 0, double c = 0, double d = 0) {
  char s[160];
  std::snprintf(s, sizeof s, pattern, a, b, c, d);
  return s;
}

// One axis: a data range mapped onto a pixel range, linear or in log10.
struct Axis {
  double lo = 0, hi = 1, from = 0, to = 1;
  bool log = false;

  double value(double v) const { return log ? std::log10(v) : v; }
  double pixel(double v) const { return from + (value(v) - lo) / (hi - lo) * (to - from); }
  bool shows(double v) const { return std::isfinite(v) && (!log || v > 0); }
};

// The range of the values an axis shows, widened when it is a single value.
Axis fit_axis(const std::vector<const std::vector<double>*>& columns, bool log, double from,
              double to) {
  Axis a{std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest(), from, to, log};
  for (const std::vector<double>* column : columns)
    for (double v : *column)
      if (a.shows(v)) {
        a.lo = std::min(a.lo, a.value(v));
        a.hi = std::max(a.hi, a.value(v));
      }
  if (a.lo > a.hi) a.lo = 0, a.hi = 1;
  if (a.hi - a.lo < 1e-12) a.lo -= 0.5, a.hi += 0.5;
  return a;
}

// Tick positions (in data units): decades on a log axis, 1-2-5 steps on a linear one.
std::vector<double> ticks(const Axis& a) {
  std::vector<double> out;
  if (a.log) {
    int first = static_cast<int>(std::ceil(a.lo - 1e-9)),
        last = static_cast<int>(std::floor(a.hi + 1e-9));
    int every = std::max(1, (last - first) / 6 + 1);
    for (int e = first; e <= last; e += every) out.push_back(std::pow(10.0, e));
    return out;
  }
  double raw = (a.hi - a.lo) / 5, magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude * (raw / magnitude < 2 ? 2 : raw / magnitude < 5 ? 5 : 10);
  for (double t = std::ceil(a.lo / step) * step; t <= a.hi + step * 1e-6; t += step)
    out.push_back(std::fabs(t) < step * 1e-6 ? 0 : t);
  return out;
}

std::string tick_label(double v) { return format("%.3g", v); }

std::string open_svg(const std::string& title) {
  return format(
             "<svg class=\"plot\" width=\"%.0f\" "
             "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">",
             kWidth, kHeight, kWidth, kHeight) +
         "<title>" + xml_escape(title) + "</title>" +
         format("<text x=\"%.0f\" y=\"16\" font-size=\"13\" text-anchor=\"middle\">", kWidth / 2) +
         xml_escape(title) + "</text>";
}

std::string axes(const Axis& x, const Axis& y, const std::string& x_label,
                 const std::string& y_label) {
  std::string s = format(
      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
      "fill=\"none\" stroke=\"#888\"/>",
      kLeft, kTop, kWidth - kLeft - kRight, kHeight - kTop - kBottom);
  for (double t : ticks(x))
    s += format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>",
                x.pixel(t), kTop, x.pixel(t), kHeight - kBottom) +
         format("<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\">", x.pixel(t),
                kHeight - kBottom + 13) +
         tick_label(t) + "</text>";
  for (double t : ticks(y))
    s += format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", kLeft,
                y.pixel(t), kWidth - kRight, y.pixel(t)) +
         format("<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">", kLeft - 4,
                y.pixel(t) + 3) +
         tick_label(t) + "</text>";
  s += format("<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">",
              (kLeft + kWidth - kRight) / 2, kHeight - 6) +
       xml_escape(x_label) + "</text>";
  s += format(
           "<text x=\"12\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\" "
           "transform=\"rotate(-90 12 %.1f)\">",
           (kTop + kHeight - kBottom) / 2, (kTop + kHeight - kBottom) / 2) +
       xml_escape(y_label) + "</text>";
  return s;
}

// A series as polylines, broken where a value cannot be shown, or as points.
std::string draw(const Series& series, const Axis& x, const Axis& y, bool points,
                 const char* colour) {
  std::string s, line;
  auto flush = [&] {
    if (!line.empty())
      s += std::string("<polyline fill=\"none\" stroke-width=\"1.3\" stroke=\"") + colour +
           "\" points=\"" + line + "\"/>";
    line.clear();
  };
  for (size_t i = 0; i < std::min(series.x.size(), series.y.size()); ++i) {
    if (!x.shows(series.x[i]) || !y.shows(series.y[i])) {
      flush();
      continue;
    }
    double px = x.pixel(series.x[i]), py = y.pixel(series.y[i]);
    if (points)
      s += format("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill-opacity=\"0.6\" ", px, py) +
           "fill=\"" + colour + "\"/>";
    else
      line += format("%.1f,%.1f ", px, py);
  }
  flush();
  return s;
}

std::string legend(const std::vector<Series>& series) {
  std::string s;
  for (size_t i = 0; i < series.size() && series.size() > 1; ++i) {
    double y = kTop + 12 + 13 * i;
    s += format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke-width=\"3\" ",
                kWidth - kRight - 110, y - 4, kWidth - kRight - 96, y - 4) +
         "stroke=\"" + kColours[i % 8] + "\"/>" +
         format("<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">", kWidth - kRight - 92, y) +
         xml_escape(series[i].name) + "</text>";
  }
  return s;
}

bool has_values(const Plot& p, const Axis& x, const Axis& y) {
  for (const Series& s : p.series)
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
      if (x.shows(s.x[i]) && y.shows(s.y[i])) return true;
  return false;
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string svg_plot(const Plot& p) {
  std::vector<const std::vector<double>*> xs, ys;
  for (const Series& s : p.series) xs.push_back(&s.x), ys.push_back(&s.y);
  if (p.diagonal) xs.insert(xs.end(), ys.begin(), ys.end()), ys = xs;  // one range for both
  Axis x = fit_axis(xs, p.log_x, kLeft, kWidth - kRight);
  Axis y = fit_axis(ys, p.log_y, kHeight - kBottom, kTop);
  std::string s = open_svg(p.title) + axes(x, y, p.x_label, p.y_label);
  if (!has_values(p, x, y))
    s += format("<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"middle\">", kWidth / 2,
                kHeight / 2) +
         "no values to plot</text>";
  if (p.diagonal) {
    double lo = p.log_x ? std::pow(10.0, x.lo) : x.lo, hi = p.log_x ? std::pow(10.0, x.hi) : x.hi;
    s += format(
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" "
        "stroke-dasharray=\"4 3\"/>",
        x.pixel(lo), y.pixel(lo), x.pixel(hi), y.pixel(hi));
  }
  for (size_t i = 0; i < p.series.size(); ++i)
    s += draw(p.series[i], x, y, p.points, kColours[i % 8]);
  return s + legend(p.series) + "</svg>";
}

std::string svg_histogram(const std::string& title, const std::string& x_label,
                          const std::vector<double>& counts, double lo, double hi) {
  std::vector<double> edges{lo, hi}, heights{0};
  heights.insert(heights.end(), counts.begin(), counts.end());
  Axis x = fit_axis({&edges}, false, kLeft, kWidth - kRight);
  Axis y = fit_axis({&heights}, false, kHeight - kBottom, kTop);
  std::string s = open_svg(title) + axes(x, y, x_label, "count");
  const double width = (hi - lo) / std::max<size_t>(1, counts.size());
  for (size_t b = 0; b < counts.size(); ++b) {
    double left = x.pixel(lo + b * width), right = x.pixel(lo + (b + 1) * width);
    double top = y.pixel(counts[b]), bottom = y.pixel(0);
    s += format("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" ", left, top,
                std::max(0.0, right - left - 1), std::max(0.0, bottom - top)) +
         "fill=\"#1f77b4\"/>";
  }
  return s + "</svg>";
}

}  // namespace genie
