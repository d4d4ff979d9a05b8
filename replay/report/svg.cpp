#include "report/svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace rcvq {

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

Svg::Svg(int width, int height, const std::string& title) : width_(width), height_(height) {
  out_ = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
      "<title>{2}</title>\n"
      "<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n",
      width, height, xml_escape(title));
}

void Svg::open_group(const std::string& attributes) { out_ += "<g " + attributes + ">\n"; }
void Svg::close_group() { out_ += "</g>\n"; }

void Svg::line(double x1, double y1, double x2, double y2, const std::string& style) {
  out_ += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" style=\"{}\"/>\n", x1, y1, x2,
                      y2, style);
}

void Svg::rect(double x, double y, double w, double h, const std::string& style, const std::string& tooltip) {
  if (tooltip.empty()) {
    out_ += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" style=\"{}\"/>\n", x, y,
                        w, h, style);
  } else {
    out_ += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" style=\"{}\"><title>{}</title></rect>\n",
        x, y, w, h, style, xml_escape(tooltip));
  }
}

namespace {
std::string points_text(const std::vector<std::pair<double, double>>& points) {
  std::string text;
  for (const auto& [x, y] : points) text += fmt::format("{:.1f},{:.1f} ", x, y);
  if (!text.empty()) text.pop_back();
  return text;
}
}  // namespace

void Svg::polyline(const std::vector<std::pair<double, double>>& points, const std::string& style) {
  out_ += fmt::format("<polyline points=\"{}\" style=\"fill:none;{}\"/>\n", points_text(points), style);
}

void Svg::polygon(const std::vector<std::pair<double, double>>& points, const std::string& style) {
  out_ += fmt::format("<polygon points=\"{}\" style=\"{}\"/>\n", points_text(points), style);
}

void Svg::text(double x, double y, const std::string& content, const std::string& anchor, int size,
               const std::string& extra_style, double rotate) {
  const std::string transform =
      rotate != 0 ? fmt::format(" transform=\"rotate({:.0f} {:.1f} {:.1f})\"", rotate, x, y) : "";
  out_ += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"{}\" font-size=\"{}\"{}{}>{}</text>\n", x, y,
                      anchor, size, extra_style.empty() ? "" : " style=\"" + extra_style + "\"", transform,
                      xml_escape(content));
}

std::string Svg::finish() {
  out_ += "</svg>\n";
  return std::move(out_);
}

double Scale::operator()(double v) const {
  double f;
  if (log) {
    const double l = std::log10(std::max(v, lo));
    f = (l - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
  } else {
    f = hi == lo ? 0 : (v - lo) / (hi - lo);
  }
  return from_px + f * (to_px - from_px);
}

double nice_ceiling(double v) {
  if (v <= 0) return 1;
  const double magnitude = std::pow(10.0, std::floor(std::log10(v)));
  for (double step : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (step * magnitude >= v * (1 - 1e-9)) return step * magnitude;
  return 10 * magnitude;
}

std::vector<double> nice_ticks(double lo, double hi, int count) {
  std::vector<double> ticks;
  if (hi <= lo) return {lo};
  const double step = nice_ceiling((hi - lo) / std::max(1, count));
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

std::string tick_label(double v) {
  std::string s = fmt::format("{:.3f}", v);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

std::string mode_colour(const std::string& mode, size_t index) {
  static const std::array<std::pair<const char*, const char*>, 5> known = {{{"baseline", "#1f77b4"},
                                                                           {"lowat-user", "#ff7f0e"},
                                                                           {"strparser", "#2ca02c"},
                                                                           {"autolowat", "#d62728"},
                                                                           {"autolowat-model", "#9467bd"}}};
  for (const auto& [name, colour] : known)
    if (mode == name) return colour;
  static const std::array<const char*, 5> spare = {"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return spare[index % spare.size()];
}

}  // namespace rcvq
