// `biaslab data list|fetch|verify|path`: the benchmark data manager on the command line.
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <iostream>
#include <sstream>

#include "biaslab/data/data_manager.hpp"
#include "biaslab/data/errors.hpp"
#include "cli/commands.hpp"

namespace biaslab::cli {

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

constexpr const char* kUsage =
    "usage: biaslab data list [--json]\n"
    "       biaslab data fetch NAME... | --all\n"
    "       biaslab data verify NAME... | --all\n"
    "       biaslab data path NAME [FILE]\n"
    "\n"
    "Benchmark data sets are looked up in the mirror ($BIASLAB_DATA_MIRROR, laid out as\n"
    "<mirror>/<folder>/<file> like shared/data), then in the cache ($BIASLAB_DATA_DIR, else\n"
    "$XDG_CACHE_HOME/biaslab/data, else ~/.cache/biaslab/data), else downloaded from the\n"
    "registry's pinned URL into the cache. Every file is checked against its sha256.\n"
    "\n"
    "  list     name, files, size, where found (mirror/cache/partial/missing) and licence\n"
    "  fetch    make data sets available (downloads missing files, also optional ones)\n"
    "  verify   hash every present copy in full; exit 1 on any mismatch or missing file\n"
    "  path     print the folder of a data set (or of one FILE in it), fetching if needed\n";

std::string human_size(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 3) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, kUnits[unit]);
  return text;
}

std::string where(const data::DataSetStatus& status) {
  if (status.location != data::Location::Missing) return data::to_string(status.location);
  const std::size_t present = status.required_present();
  if (present == 0) return "missing";
  return "partial " + std::to_string(present) + "/" + std::to_string(status.required_total());
}

int list(data::DataManager& manager, bool as_json) {
  const auto statuses = manager.list();
  if (as_json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& status : statuses) {
      const auto& set = *status.dataset;
      nlohmann::json files = nlohmann::json::array();
      for (const auto& f : status.files)
        files.push_back({{"path", f.file->path},
                         {"size", f.file->size},
                         {"sha256", f.file->sha256},
                         {"url", f.file->url},
                         {"required", f.file->required},
                         {"location", data::to_string(f.location)},
                         {"local_path", f.local_path.string()},
                         {"problem", f.problem}});
      out.push_back({{"name", set.name},
                     {"folder", set.folder},
                     {"license", set.license},
                     {"source", set.source},
                     {"description", set.description},
                     {"mirror_only", set.mirror_only()},
                     {"size", set.total_size()},
                     {"where", where(status)},
                     {"files", files}});
    }
    std::cout << out.dump(1) << "\n";
    return 0;
  }
  std::size_t name_width = 4;
  for (const auto& status : statuses) name_width = std::max(name_width, status.dataset->name.size());
  auto pad = [](std::string text, std::size_t width) {
    if (text.size() < width) text.append(width - text.size(), ' ');
    return text;
  };
  std::cout << pad("NAME", name_width) << "  " << pad("FILES", 5) << "  " << pad("SIZE", 10) << "  "
            << pad("WHERE", 13) << "  LICENSE\n";
  for (const auto& status : statuses) {
    const auto& set = *status.dataset;
    std::string where_text = where(status);
    if (set.mirror_only()) where_text += "*";
    std::cout << pad(set.name, name_width) << "  " << pad(std::to_string(set.files.size()), 5) << "  "
              << pad(human_size(set.total_size()), 10) << "  " << pad(where_text, 13) << "  " << set.license << "\n";
  }
  std::cout << "\n* mirror-only: some required files have no public download URL and must come from a mirror.\n"
            << "mirror: " << (manager.options().mirror_dir.empty() ? std::string("(none; set BIASLAB_DATA_MIRROR)")
                                                                    : manager.options().mirror_dir.string())
            << "\ncache:  " << manager.options().cache_dir.string() << "\n";
  return 0;
}

int verify(data::DataManager& manager, const std::vector<std::string>& names) {
  int failed = 0;
  for (const auto& name : names) {
    const auto report = manager.verify(name);
    std::size_t present = 0;
    for (const auto& f : report.files) {
      if (f.location != data::Location::Missing) ++present;
      if (!f.problem.empty()) std::cout << name << ": " << f.file->path << ": " << f.problem << "\n";
      if (f.location == data::Location::Missing && f.file->required)
        std::cout << name << ": " << f.file->path << ": missing" << (f.file->mirror_only() ? " (mirror-only)" : "") << "\n";
    }
    std::cout << name << ": " << (report.ok() ? "OK" : "FAILED") << " (" << present << " of " << report.files.size()
              << " files present and verified" << (report.failures() ? ", " + std::to_string(report.failures()) + " problems" : "")
              << ")\n";
    if (!report.ok()) ++failed;
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

int cmd_data(const Args& args, const GlobalOptions& g) {
  std::string action;
  std::vector<std::string> names;
  std::string mirror, cache_dir;
  po::options_description visible("options");
  visible.add_options()
      ("help,h", "show this help")
      ("mirror", po::value(&mirror), "data mirror folder (default: $BIASLAB_DATA_MIRROR)")
      ("cache-dir", po::value(&cache_dir), "download cache (default: $BIASLAB_DATA_DIR, else <--cache-dir of biaslab>/data, "
                                           "else $XDG_CACHE_HOME/biaslab/data)")
      ("offline", "never download (also: BIASLAB_OFFLINE=1)")
      ("all", "fetch/verify: every data set")
      ("json", "list: machine-readable output");
  po::options_description hidden;
  hidden.add_options()("action", po::value(&action))("names", po::value(&names)->multitoken());
  po::options_description all_options;
  all_options.add(visible).add(hidden);
  po::positional_options_description positional;
  positional.add("action", 1).add("names", -1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all_options).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& error) {
    std::cerr << "biaslab data: " << error.what() << "\n\n" << kUsage << "\n" << visible;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << kUsage << "\n" << visible;
    return 0;
  }
  auto usage_error = [&](const std::string& message) {
    std::cerr << "biaslab data: " << message << "\n\n" << kUsage;
    return 2;
  };
  if (action.empty()) return usage_error("missing action (list, fetch, verify or path)");
  const bool all = vm.count("all") > 0;

  try {
    data::DataManagerOptions options = data::DataManagerOptions::from_environment();
    if (!mirror.empty()) options.mirror_dir = mirror;
    if (!cache_dir.empty()) {
      options.cache_dir = cache_dir;
    } else if (!g.cache_dir.empty() && !std::getenv("BIASLAB_DATA_DIR")) {
      options.cache_dir = g.cache_dir / "data";
    }
    if (vm.count("offline")) options.offline = true;
    data::DataManager manager(options);

    auto check_names = [&]() -> std::optional<int> {
      if (all) {
        if (!names.empty()) return usage_error("give data set names or --all, not both");
        for (const auto& set : manager.registry().datasets()) names.push_back(set.name);
      }
      if (names.empty()) return usage_error(action + ": missing data set NAME (see 'biaslab data list')");
      for (const auto& name : names) {
        if (manager.registry().find(name) != nullptr) continue;
        try {
          manager.registry().get(name);  // throws with the list of known names
        } catch (const data::DataError& error) {
          return usage_error(error.what());
        }
      }
      return std::nullopt;
    };

    if (action == "list") {
      if (!names.empty() || all) return usage_error("list takes no data set names");
      return list(manager, vm.count("json") > 0);
    }
    if (action == "verify") {
      if (auto code = check_names()) return *code;
      return verify(manager, names);
    }
    if (action == "fetch") {
      if (auto code = check_names()) return *code;
      int failed = 0;
      for (const auto& name : names) {
        try {
          std::cout << name << ": " << manager.fetch(name).string() << "\n";
        } catch (const data::DataError& error) {
          std::cerr << "biaslab data fetch: " << error.what() << "\n";
          ++failed;
        }
      }
      return failed == 0 ? 0 : 1;
    }
    if (action == "path") {
      if (all) return usage_error("path takes one NAME, not --all");
      if (names.empty() || names.size() > 2) return usage_error("path takes NAME [FILE]");
      const std::vector<std::string> operands = names;
      names = {operands[0]};
      if (auto code = check_names()) return *code;
      if (operands.size() == 2) {
        const data::DataSet& set = manager.registry().get(operands[0]);
        if (set.find(operands[1]) == nullptr) {
          std::string known;
          for (const auto& f : set.files) known += (known.empty() ? "" : ", ") + f.path;
          return usage_error("data set '" + set.name + "' has no file '" + operands[1] + "'; its files: " + known);
        }
        std::cout << manager.file(operands[0], operands[1]).string() << "\n";
      } else {
        std::cout << manager.resolve(operands[0]).string() << "\n";
      }
      return 0;
    }
    return usage_error("unknown action '" + action + "' (expected list, fetch, verify or path)");
  } catch (const data::DataError& error) {
    std::cerr << "biaslab data " << action << ": " << error.what() << "\n";
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "biaslab data " << action << ": " << error.what() << "\n";
    return 1;
  }
}

}  // namespace biaslab::cli
