// report.html of the mini-study rendered by headless Chromium: the screenshot is not blank, the
// rendered DOM holds every inline SVG plot with drawn paths, and the page logs no console
// message. Negative controls (a blank page, a page that logs an error) prove each check can
// fail. Exit 77 (CTest: skipped) when chromium is not installed; 0 pass; 1 fail.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "biaslab/report.hpp"
#include "report/study_fixture.hpp"

extern char** environ;
namespace fs = std::filesystem;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::cout << (ok ? "ok   " : "FAIL ") << what << "\n";
  if (!ok) ++failures;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

fs::path find_chromium() {
  if (const char* env = std::getenv("BIASLAB_CHROMIUM"); env && *env) return env;
  for (const char* name : {"chromium", "chromium-browser"}) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':'))
      if (!dir.empty() && ::access((fs::path(dir) / name).c_str(), X_OK) == 0) return fs::path(dir) / name;
  }
  return {};
}

// Runs argv with stdout/stderr to files (no shell); returns the exit status (-1: not exited).
int run(const std::vector<std::string>& args, const fs::path& out, const fs::path& err) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Decodes an 8-bit RGB/RGBA PNG with zlib and prints "width height distinct_colours
// non_white_fraction" (Python's zlib; no imaging library needed).
const char* kPngStats = R"py(
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat = 8, b''
while pos < len(data):
    length, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b'IHDR':
        w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
    elif kind == b'IDAT':
        idat += body
    pos += 12 + length
assert depth == 8 and ctype in (2, 6), 'unsupported PNG %d/%d' % (depth, ctype)
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours, nonwhite, i = set(), 0, 0
for y in range(h):
    f = raw[i]; line = bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp * 2):  # every other pixel: plenty for a blank check
        px = bytes(line[x:x + 3])
        colours.add(px)
        if px != b'\xff\xff\xff': nonwhite += 1
    prev = line
print(w, h, len(colours), nonwhite / (w * h / 2.0))
)py";

struct PngStats {
  long width = 0, height = 0, colours = 0;
  double non_white = 0;
  bool ok = false;
};

PngStats png_stats(const fs::path& png, const fs::path& work) {
  const fs::path script = work / "png_stats.py";
  std::ofstream(script) << kPngStats;
  const char* py = std::getenv("BIASLAB_REFERENCE_PYTHON");
  const std::string python = py && *py ? py : "/usr/bin/python3";
  PngStats s;
  if (run({python, script.string(), png.string()}, work / "png.out", work / "png.err") != 0) {
    std::cout << "png decode failed: " << slurp(work / "png.err") << "\n";
    return s;
  }
  std::istringstream in(slurp(work / "png.out"));
  s.ok = static_cast<bool>(in >> s.width >> s.height >> s.colours >> s.non_white);
  return s;
}

struct Rendered {
  std::string dom, log;
  PngStats png;
};

Rendered render(const fs::path& chromium, const fs::path& html, const fs::path& work, const std::string& tag) {
  const std::string url = "file://" + fs::absolute(html).string();
  const std::string profile = "--user-data-dir=" + (work / ("profile-" + tag)).string();
  const std::vector<std::string> common = {chromium.string(), "--headless", "--no-sandbox", "--disable-gpu",
                                           "--hide-scrollbars", "--no-first-run", profile};
  Rendered r;
  auto args = common;
  args.insert(args.end(), {"--dump-dom", "--enable-logging=stderr", "--v=0", url});
  const int rc = run(args, work / (tag + ".dom"), work / (tag + ".log"));
  check(rc == 0, tag + ": chromium --dump-dom exits 0 (got " + std::to_string(rc) + ")");
  r.dom = slurp(work / (tag + ".dom"));
  r.log = slurp(work / (tag + ".log"));
  const fs::path png = work / (tag + ".png");
  args = common;
  args.insert(args.end(), {"--screenshot=" + png.string(), "--window-size=1200,2400", url});
  const int rc2 = run(args, work / (tag + ".shot.out"), work / (tag + ".shot.log"));
  check(rc2 == 0 && fs::exists(png), tag + ": chromium --screenshot wrote " + png.string());
  if (fs::exists(png)) r.png = png_stats(png, work);
  return r;
}

// Console messages as Chromium logs them with --enable-logging=stderr: "...:INFO:CONSOLE:12] ...".
std::size_t console_messages(const std::string& log) {
  std::size_t n = 0;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);)
    if (line.find(":CONSOLE") != std::string::npos) {
      std::cout << "  console: " << line << "\n";
      ++n;
    }
  return n;
}

}  // namespace

int main() {
  const fs::path chromium = find_chromium();
  if (chromium.empty()) {
    std::cout << "SKIPPED: chromium not installed (apt install chromium); report.html was not rendered\n";
    return 77;
  }
  const fs::path work = biaslab::test::fresh_dir("browser");
  const fs::path run_dir = work / "run";
  biaslab::test::write_mini_study(run_dir);
  biaslab::report::ReportOptions options;
  options.run_dir = run_dir;
  const auto summary = biaslab::report::write_report(options);
  check(summary.plots == 18, "report drew 18 plots (got " + std::to_string(summary.plots) + ")");

  const Rendered page = render(chromium, run_dir / "report.html", work, "report");
  check(count(page.dom, "<svg") == 18, "rendered DOM has 18 <svg> elements (got " +
                                           std::to_string(count(page.dom, "<svg")) + ")");
  // Every plot drew: each <svg> ... </svg> holds path elements and its legend text.
  std::size_t drawn = 0;
  for (auto pos = page.dom.find("<svg"); pos != std::string::npos; pos = page.dom.find("<svg", pos + 1)) {
    const auto end = page.dom.find("</svg>", pos);
    const std::string svg = page.dom.substr(pos, end - pos);
    if (count(svg, "<path") >= 5 && count(svg, "<text") >= 3) ++drawn;
  }
  check(drawn == 18, "every SVG has drawn paths and text (" + std::to_string(drawn) + "/18)");
  check(page.dom.find("trade-off (best LM score)") != std::string::npos, "trade-off marker legend in DOM");
  check(console_messages(page.log) == 0, "no console messages while loading report.html");
  check(page.png.ok, "screenshot decoded");
  std::cout << "  screenshot " << page.png.width << "x" << page.png.height << ", " << page.png.colours
            << " colours, non-white fraction " << page.png.non_white << "\n";
  check(page.png.width == 1200 && page.png.colours >= 16 && page.png.non_white > 0.02,
        "screenshot is not blank (>= 16 colours, > 2% non-white pixels)");

  // Negative controls: the same checks must reject a blank page and a page with a console error.
  const fs::path blank = work / "blank.html";
  std::ofstream(blank) << "<!DOCTYPE html><html><body style=\"background:#fff\"></body></html>";
  const Rendered b = render(chromium, blank, work, "blank");
  check(b.png.ok && (b.png.colours < 16 || b.png.non_white <= 0.02), "control: blank page detected as blank");
  const fs::path noisy = work / "noisy.html";
  std::ofstream(noisy) << "<!DOCTYPE html><html><body><p>x</p><script>console.error('boom')</script></body></html>";
  const Rendered n = render(chromium, noisy, work, "noisy");
  check(console_messages(n.log) >= 1, "control: console error detected");

  std::cout << (failures ? "FAILED: " + std::to_string(failures) + " check(s)\n" : "all browser checks passed\n");
  return failures ? 1 : 0;
}
