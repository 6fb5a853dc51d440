#pragma once
// Plots as SVG text, drawn by gnuplot run as a subprocess (no shell): the script and the data go
// through files in a private temporary folder; every label is passed as a gnuplot single-quoted
// string with the "noenhanced" terminal, so no label can inject commands or markup.
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace biaslab::report::detail {

struct Series {
  std::string title;
  std::size_t color = 0;               // palette index (one per model label)
  std::vector<double> x, y, lo, hi;    // lo/hi NaN: no interval at that point
  bool points_only = false;            // scatter instead of line + points
};

struct Marker {
  double x = 0, y = 0;
  std::size_t color = 0;
};

struct LinePlot {
  std::string title, xlabel, ylabel;
  bool logx = false;
  std::vector<std::pair<double, std::string>> xtics;  // labelled tics (ordinal axes)
  std::vector<Series> series;
  std::vector<Marker> markers;         // trade-off points: big open circles
  std::string marker_title;
  std::optional<double> reference_y;   // value of an unbiased model, dashed line
};

struct BarPlot {
  std::string title, ylabel;
  std::vector<std::string> categories;           // x clusters
  std::vector<std::string> groups;               // bars per cluster (model labels)
  std::vector<std::size_t> colors;
  std::vector<std::vector<double>> value, lo, hi;  // [group][category]; NaN = missing
  std::optional<double> reference_y;
};

class Gnuplot {
 public:
  // `executable` may be missing: available() is false then.
  explicit Gnuplot(std::filesystem::path executable);
  ~Gnuplot();
  Gnuplot(const Gnuplot&) = delete;
  Gnuplot& operator=(const Gnuplot&) = delete;

  bool available() const { return available_; }
  // SVG text (with its XML prolog); throws std::runtime_error with gnuplot's message on failure.
  std::string render(const LinePlot& plot);
  std::string render(const BarPlot& plot);

 private:
  std::string run(const std::string& script);
  std::filesystem::path write_data(const std::string& text);

  std::filesystem::path executable_;
  bool available_ = false;
  std::filesystem::path workdir_;
  std::size_t counter_ = 0;
};

// A gnuplot single-quoted string literal: control characters become spaces, ' is doubled.
std::string gnuplot_quote(const std::string& text);

}  // namespace biaslab::report::detail
