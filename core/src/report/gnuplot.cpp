#include "report/gnuplot.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

extern char** environ;

namespace biaslab::report::detail {
namespace {

namespace fs = std::filesystem;

// Colour-blind-safe palette (Okabe-Ito), one colour per model label.
constexpr const char* kPalette[] = {"#000000", "#E69F00", "#0072B2", "#009E73",
                                    "#D55E00", "#CC79A7", "#56B4E9", "#F0E442"};

const char* color_of(std::size_t i) { return kPalette[i % (sizeof kPalette / sizeof *kPalette)]; }

std::string num(double v) {
  if (std::isnan(v)) return "NaN";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

const char* kPrelude =
    "set terminal svg size 760,440 dynamic noenhanced font 'sans,12' background '#ffffff'\n"
    "set encoding utf8\n"
    "set datafile missing 'NaN'\n"
    "set grid ytics lc rgb '#dddddd'\n"
    "set border 3\nset tics nomirror\n"
    "set key below horizontal Left reverse noautotitle\n";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::string gnuplot_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) out += ' ';
    else if (c == '\'') out += "''";
    else out += c;
  }
  return out + "'";
}

Gnuplot::Gnuplot(fs::path executable) : executable_(std::move(executable)) {
  std::error_code ec;
  available_ = !executable_.empty() && fs::is_regular_file(executable_, ec) &&
               ::access(executable_.c_str(), X_OK) == 0;
  if (!available_) return;
  std::string tmpl = (fs::temp_directory_path() / "biaslab-report-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::system_error(errno, std::generic_category(), "cannot create a temporary folder for gnuplot");
  workdir_ = tmpl;
}

Gnuplot::~Gnuplot() {
  std::error_code ec;
  if (!workdir_.empty()) fs::remove_all(workdir_, ec);
}

fs::path Gnuplot::write_data(const std::string& text) {
  const fs::path p = workdir_ / ("data" + std::to_string(counter_++) + ".dat");
  std::ofstream out(p, std::ios::binary);
  out << text;
  if (!out.flush()) throw std::runtime_error("cannot write gnuplot data file " + p.string());
  return p;
}

std::string Gnuplot::run(const std::string& script_body) {
  if (!available_) throw std::logic_error("gnuplot is not available");
  const std::size_t id = counter_++;
  const fs::path svg = workdir_ / ("plot" + std::to_string(id) + ".svg");
  const fs::path script = workdir_ / ("plot" + std::to_string(id) + ".gp");
  const fs::path log = workdir_ / ("plot" + std::to_string(id) + ".log");
  {
    std::ofstream out(script, std::ios::binary);
    out << kPrelude << "set output " << gnuplot_quote(svg.string()) << "\n" << script_body << "\nunset output\n";
    if (!out.flush()) throw std::runtime_error("cannot write gnuplot script " + script.string());
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  const std::string exe = executable_.string(), script_path = script.string();
  char* argv[] = {const_cast<char*>(exe.c_str()), const_cast<char*>(script_path.c_str()), nullptr};
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "cannot start " + exe);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "waitpid(gnuplot)");
  const std::string messages = read_file(log);
  std::error_code ec;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !fs::exists(svg, ec))
    throw std::runtime_error("gnuplot failed on " + script.filename().string() + ": " + messages);
  std::string out = read_file(svg);
  fs::remove(svg, ec);
  return out;
}

std::string Gnuplot::render(const LinePlot& plot) {
  std::ostringstream s;
  s << "set title " << gnuplot_quote(plot.title) << "\n"
    << "set xlabel " << gnuplot_quote(plot.xlabel) << "\n"
    << "set ylabel " << gnuplot_quote(plot.ylabel) << "\n";
  if (plot.logx) s << "set logscale x 10\n";
  if (!plot.xtics.empty()) {
    s << "set xtics (";
    for (std::size_t i = 0; i < plot.xtics.size(); ++i)
      s << (i ? ", " : "") << gnuplot_quote(plot.xtics[i].second) << " " << num(plot.xtics[i].first);
    s << ") rotate by -30\n";
    if (plot.logx) s << "set autoscale xfix\nset offsets graph 0.05, graph 0.05, 0, 0\n";
    else s << "set offsets 0.3, 0.3, 0, 0\n";
  } else {
    // Data range plus a margin, not stretched out to the next round tic.
    s << "set autoscale xfix\nset offsets graph 0.04, graph 0.04, 0, 0\n";
  }
  std::vector<std::string> clauses;
  // Bands first so lines draw on top.
  for (const auto& series : plot.series) {
    std::ostringstream band;
    std::size_t rows = 0;
    for (std::size_t i = 0; i < series.x.size(); ++i)
      if (!std::isnan(series.lo[i]) && !std::isnan(series.hi[i])) {
        band << num(series.x[i]) << " " << num(series.lo[i]) << " " << num(series.hi[i]) << "\n";
        ++rows;
      }
    if (rows == 0) continue;
    const fs::path f = write_data(band.str());
    if (series.points_only || rows == 1)
      clauses.push_back(gnuplot_quote(f.string()) + " using 1:(($2+$3)/2):2:3 with yerrorbars lc rgb '" +
                        color_of(series.color) + "' pt -1 notitle");
    else
      clauses.push_back(gnuplot_quote(f.string()) + " using 1:2:3 with filledcurves fc rgb '" +
                        color_of(series.color) + "' fs transparent solid 0.18 noborder notitle");
  }
  for (const auto& series : plot.series) {
    std::ostringstream data;
    for (std::size_t i = 0; i < series.x.size(); ++i)
      if (!std::isnan(series.y[i])) data << num(series.x[i]) << " " << num(series.y[i]) << "\n";
    const fs::path f = write_data(data.str());
    clauses.push_back(gnuplot_quote(f.string()) + " using 1:2 with " +
                      (series.points_only ? "points pt 7 ps 0.8" : "linespoints pt 7 ps 0.6 lw 2") +
                      " lc rgb '" + color_of(series.color) + "' title " + gnuplot_quote(series.title));
  }
  if (!plot.markers.empty()) {
    std::ostringstream data;
    for (const auto& m : plot.markers) data << num(m.x) << " " << num(m.y) << "\n";
    const fs::path f = write_data(data.str());
    clauses.push_back(gnuplot_quote(f.string()) + " using 1:2 with points pt 6 ps 2.4 lw 2 lc rgb '#D00000' title " +
                      gnuplot_quote(plot.marker_title));
  }
  if (plot.reference_y)
    clauses.push_back(num(*plot.reference_y) + " with lines dt 2 lc rgb '#888888' title " +
                      gnuplot_quote("unbiased (" + num(*plot.reference_y) + ")"));
  s << "plot ";
  for (std::size_t i = 0; i < clauses.size(); ++i) s << (i ? ", \\\n  " : "") << clauses[i];
  s << "\n";
  return run(s.str());
}

std::string Gnuplot::render(const BarPlot& plot) {
  std::ostringstream data;
  // One row per category: label, then value lo hi for each group (missing CI: no bar).
  for (std::size_t c = 0; c < plot.categories.size(); ++c) {
    data << "\"" << c << "\"";  // placeholder; labels come from xtics below
    for (std::size_t g = 0; g < plot.groups.size(); ++g) {
      const double v = plot.value[g][c];
      const double lo = std::isnan(plot.lo[g][c]) ? v : plot.lo[g][c];
      const double hi = std::isnan(plot.hi[g][c]) ? v : plot.hi[g][c];
      data << " " << num(v) << " " << num(lo) << " " << num(hi);
    }
    data << "\n";
  }
  const fs::path f = write_data(data.str());
  std::ostringstream s;
  s << "set title " << gnuplot_quote(plot.title) << "\n"
    << "set ylabel " << gnuplot_quote(plot.ylabel) << "\n"
    << "set style data histograms\n"
    << "set style histogram errorbars gap 1.5 lw 1.5\n"
    << "set style fill solid 0.75 border -1\n"
    << "set boxwidth 0.9\n";
  s << "set xtics (";
  for (std::size_t c = 0; c < plot.categories.size(); ++c)
    s << (c ? ", " : "") << gnuplot_quote(plot.categories[c]) << " " << c;
  s << ") rotate by -30\n";
  s << "set xrange [-0.6:" << num(static_cast<double>(plot.categories.size()) - 0.4) << "]\n";
  s << "plot ";
  for (std::size_t g = 0; g < plot.groups.size(); ++g) {
    const std::size_t col = 2 + 3 * g;
    s << (g ? ", \\\n  " : "") << gnuplot_quote(f.string()) << " using " << col << ":" << col + 1 << ":"
      << col + 2 << " lc rgb '" << color_of(plot.colors[g]) << "' title " << gnuplot_quote(plot.groups[g]);
  }
  if (plot.reference_y)
    s << ", \\\n  " << num(*plot.reference_y) << " with lines dt 2 lc rgb '#888888' title "
      << gnuplot_quote("unbiased (" + num(*plot.reference_y) + ")");
  s << "\n";
  return run(s.str());
}

}  // namespace biaslab::report::detail
