#pragma once
#include <string>
#include <utility>
#include <vector>

namespace rcvq {

// Minimal SVG writer for the report's plots: every call appends one element, text is
// XML-escaped, and numbers are printed with fixed precision so output is stable.
class Svg {
 public:
  Svg(int width, int height, const std::string& title);

  void open_group(const std::string& attributes);  // <g attributes>
  void close_group();
  void line(double x1, double y1, double x2, double y2, const std::string& style);
  void rect(double x, double y, double w, double h, const std::string& style, const std::string& tooltip = "");
  void polyline(const std::vector<std::pair<double, double>>& points, const std::string& style);
  void polygon(const std::vector<std::pair<double, double>>& points, const std::string& style);
  // anchor: start | middle | end. rotate: degrees around (x, y).
  void text(double x, double y, const std::string& content, const std::string& anchor = "start",
            int size = 12, const std::string& extra_style = "", double rotate = 0);

  std::string finish();  // closes the document; call once

  int width() const { return width_; }
  int height() const { return height_; }

 private:
  int width_, height_;
  std::string out_;
};

std::string xml_escape(const std::string& text);

// A linear or logarithmic mapping of data values onto a pixel range.
struct Scale {
  double lo, hi;          // data range
  double from_px, to_px;  // pixel range (to_px < from_px for a y axis)
  bool log = false;
  double operator()(double v) const;
};

// Round tick positions covering [lo, hi] for a linear axis (about `count` of them).
std::vector<double> nice_ticks(double lo, double hi, int count);
// Rounds `v` up to 1, 2 or 5 times a power of ten.
double nice_ceiling(double v);
// Short label for a tick value: no trailing zeros.
std::string tick_label(double v);

// Stable colours: the interface's modes always get the same one.
std::string mode_colour(const std::string& mode, size_t index);

}  // namespace rcvq
