// Host and environment facts for provenance.json (Linux: uname, /proc, /etc/os-release).
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <string>
#include <thread>

#include "biaslab/provenance.hpp"

extern char** environ;

namespace biaslab::results {
namespace {

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

// Value of the first "key<sep>value" line whose key (trimmed) is one of `keys`, in key order.
std::string read_keyed_value(const char* file, std::initializer_list<std::string_view> keys,
                             char sep) {
  for (std::string_view key : keys) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      auto pos = line.find(sep);
      if (pos == std::string::npos || trim(line.substr(0, pos)) != key) continue;
      return trim(line.substr(pos + 1));
    }
  }
  return "";
}

std::string unquote(std::string s) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front())
    return s.substr(1, s.size() - 2);
  return s;
}

bool looks_secret(std::string_view name) {
  std::string upper(name);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (std::string_view word : {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL"})
    if (upper.find(word) != std::string::npos) return true;
  return false;
}

}  // namespace

HostInfo collect_host_info() {
  HostInfo h;
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) == 0) h.hostname = name;
  struct utsname u {};
  if (::uname(&u) == 0) {
    h.os_sysname = u.sysname;
    h.os_release = u.release;
    h.os_version = u.version;
    h.machine = u.machine;
  }
  h.os_pretty_name = unquote(read_keyed_value("/etc/os-release", {"PRETTY_NAME"}, '='));
  // x86 has "model name"; ARM kernels report "Hardware" or nothing; MIPS/POWER "cpu model"/"cpu".
  h.cpu_model = read_keyed_value("/proc/cpuinfo", {"model name", "Hardware", "cpu model", "cpu"}, ':');
  h.cpu_cores = std::thread::hardware_concurrency();
  const std::string mem = read_keyed_value("/proc/meminfo", {"MemTotal"}, ':');  // "N kB"
  try {
    if (!mem.empty()) h.memory_bytes = std::stoull(mem) * 1024;
  } catch (const std::exception&) {
    h.memory_bytes = 0;
  }
  return h;
}

std::map<std::string, std::string> collect_environment() {
  static constexpr std::string_view kThreadVars[] = {"OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                     "CUDA_VISIBLE_DEVICES"};
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = entry.substr(0, eq);
    bool wanted = name.starts_with("BIASLAB_") ||
                  std::find(std::begin(kThreadVars), std::end(kThreadVars), name) !=
                      std::end(kThreadVars);
    if (!wanted) continue;
    out[std::string(name)] = looks_secret(name) ? "<redacted>" : std::string(entry.substr(eq + 1));
  }
  return out;
}

}  // namespace biaslab::results
