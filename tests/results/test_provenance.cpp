#include <sqlite3.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <boost/version.hpp>
#include <regex>
#include <thread>

#include "biaslab/provenance.hpp"
#include "results_test_util.hpp"

using namespace biaslab::results;
using namespace biaslab::results::test;
namespace fs = std::filesystem;

namespace {

// Restores an environment variable when the test ends.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_.c_str(), old_->c_str(), 1); else ::unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

ProvenanceInfo sample_info() {
  ProvenanceInfo info;
  info.pipeline_name = "quant-sweep";
  info.pipeline_hash = "0123abcd";
  info.pipeline_hash_algorithm = "xxh3_64";
  info.pipeline_path = "/tmp/pipelines/quant-sweep.toml";
  info.pipeline_text = "name = \"quant-sweep\"\n# ünïcode and \"quotes\"\n[grid]\nbits = [4, 8]\n";
  info.pipeline_overrides = {"grid.bits=[4]"};
  info.biaslab_version = "0.1.0";
  info.biaslab_git_sha = "deadbeef";
  info.plugins = {{"compress.rtn", "0.2.0", "/opt/biaslab/lib/biaslab/plugins/libcompress_rtn.so", "c0dec0de"},
                  {"metric.crows_pairs", "1.0.0", "/opt/plugins/libmetric_crows.so"}};
  info.library_versions = {{"libcurl", "7.88.1"}, {"libtorch", "1.13.1"}, {"sqlite", "override"}};
  info.host = collect_host_info();
  info.environment = collect_environment();
  info.seeds = {{"pipeline", 1234}, {"train", 18446744073709551615ull}};
  info.started_at = iso8601_utc(std::chrono::system_clock::time_point(std::chrono::seconds(1714566896)));
  info.command_line = {"biaslab", "run", "quant-sweep.toml", "--threads", "4"};
  info.extra = {{"note", "x"}};
  return info;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(provenance)

BOOST_AUTO_TEST_CASE(iso8601_timestamps_are_utc_seconds) {
  using std::chrono::seconds;
  using std::chrono::system_clock;
  BOOST_TEST(iso8601_utc(system_clock::time_point(seconds(1714566896))) == "2024-05-01T12:34:56Z");
  BOOST_TEST(iso8601_utc(system_clock::time_point(seconds(0))) == "1970-01-01T00:00:00Z");
  BOOST_TEST(std::regex_match(iso8601_utc_now(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
}

BOOST_AUTO_TEST_CASE(host_info_matches_the_system) {
  const HostInfo h = collect_host_info();
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  BOOST_TEST(h.hostname == name);
  BOOST_TEST(h.os_sysname == "Linux");
  BOOST_TEST(h.cpu_cores == std::thread::hardware_concurrency());
  BOOST_TEST(h.cpu_cores > 0u);
  // MemTotal and sysconf both come from the kernel's totalram.
  const auto pages = static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES));
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGE_SIZE));
  BOOST_TEST(h.memory_bytes == pages * page);
  if (h.machine == "x86_64") {
    const std::string cpuinfo = read_text("/proc/cpuinfo");
    std::smatch m;
    BOOST_REQUIRE(std::regex_search(cpuinfo, m, std::regex(R"(model name\s*:\s*([^\n]*\S))")));
    BOOST_TEST(h.cpu_model == m[1].str());
  }
}

BOOST_AUTO_TEST_CASE(environment_keeps_biaslab_and_thread_variables_and_redacts_secrets) {
  ScopedEnv a("BIASLAB_TEST_VALUE", "42");
  ScopedEnv b("BIASLAB_HF_TOKEN", "hf_secret");
  ScopedEnv c("OMP_NUM_THREADS", "3");
  ScopedEnv d("UNRELATED_TEST_VAR", "nope");
  const auto env = collect_environment();
  BOOST_TEST(env.at("BIASLAB_TEST_VALUE") == "42");
  BOOST_TEST(env.at("BIASLAB_HF_TOKEN") == "<redacted>");
  BOOST_TEST(env.at("OMP_NUM_THREADS") == "3");
  BOOST_TEST(env.count("UNRELATED_TEST_VAR") == 0u);
  BOOST_TEST(env.count("PATH") == 0u);
}

BOOST_AUTO_TEST_CASE(provenance_json_has_every_required_key_with_its_value) {
  ScopedEnv a("BIASLAB_TEST_VALUE", "7");
  TempDir dir;
  const fs::path file = dir.path() / "provenance.json";
  const ProvenanceInfo info = sample_info();
  write_provenance(file, info);
  const auto j = nlohmann::json::parse(read_text(file));

  BOOST_TEST(j.at("format_version") == 1);
  BOOST_TEST(j.at("biaslab").at("version") == "0.1.0");
  BOOST_TEST(j.at("biaslab").at("git_sha") == "deadbeef");
  const auto& p = j.at("pipeline");
  BOOST_TEST(p.at("name") == "quant-sweep");
  BOOST_TEST(p.at("hash") == "0123abcd");
  BOOST_TEST(p.at("hash_algorithm") == "xxh3_64");
  BOOST_TEST(p.at("path") == "/tmp/pipelines/quant-sweep.toml");
  BOOST_TEST(p.at("text") == info.pipeline_text);  // byte for byte
  BOOST_TEST(p.at("overrides") == nlohmann::json::array({"grid.bits=[4]"}));
  BOOST_REQUIRE(j.at("plugins").size() == 2u);
  BOOST_TEST(j.at("plugins")[0] == (nlohmann::json{{"name", "compress.rtn"},
                                                   {"version", "0.2.0"},
                                                   {"path", "/opt/biaslab/lib/biaslab/plugins/libcompress_rtn.so"},
                                                   {"code_hash", "c0dec0de"}}));

  const auto& libs = j.at("libraries");
  BOOST_TEST(libs.at("sqlite") == "override");  // caller entries win
  BOOST_TEST(builtin_library_versions().at("sqlite") == std::string(sqlite3_libversion()));
  std::string boost_lib = BOOST_LIB_VERSION;  // "1_74"
  std::replace(boost_lib.begin(), boost_lib.end(), '_', '.');
  BOOST_TEST(libs.at("boost").get<std::string>().starts_with(boost_lib + "."));
  BOOST_TEST(libs.at("tomlplusplus") == "3.3.0");
  BOOST_TEST(libs.at("spdlog") == "1.10.0");
  BOOST_TEST(libs.at("nlohmann_json").get<std::string>().starts_with("3."));
  BOOST_TEST(libs.at("libcurl") == "7.88.1");
  BOOST_TEST(libs.at("libtorch") == "1.13.1");
  BOOST_TEST(libs.at("compiler").get<std::string>().find(__VERSION__) != std::string::npos);
  BOOST_TEST(libs.at("cxx_standard") == "202002");

  const auto& host = j.at("host");
  BOOST_TEST(host.at("hostname") == info.host.hostname);
  BOOST_TEST(host.at("os").at("sysname") == "Linux");
  BOOST_TEST(host.at("os").at("release") == info.host.os_release);
  BOOST_TEST(host.at("cpu_model") == info.host.cpu_model);
  BOOST_TEST(host.at("cpu_cores") == info.host.cpu_cores);
  BOOST_TEST(host.at("memory_bytes") == info.host.memory_bytes);

  BOOST_TEST(j.at("environment").at("BIASLAB_TEST_VALUE") == "7");
  BOOST_TEST(j.at("seeds").at("pipeline") == 1234);
  BOOST_TEST(j.at("seeds").at("train").get<std::uint64_t>() == 18446744073709551615ull);
  BOOST_TEST(j.at("timestamps").at("started_at") == "2024-05-01T12:34:56Z");
  BOOST_TEST(j.at("timestamps").at("finished_at").is_null());
  BOOST_TEST(std::regex_match(j.at("timestamps").at("written_at").get<std::string>(),
                              std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
  BOOST_TEST(j.at("command_line") ==
             nlohmann::json::array({"biaslab", "run", "quant-sweep.toml", "--threads", "4"}));
  BOOST_TEST(j.at("extra").at("note") == "x");

  // Rewritten at the end of the run, atomically.
  ProvenanceInfo done = info;
  done.finished_at = "2024-05-01T13:00:00Z";
  write_provenance(file, done);
  BOOST_TEST(nlohmann::json::parse(read_text(file)).at("timestamps").at("finished_at") ==
             "2024-05-01T13:00:00Z");
}

BOOST_AUTO_TEST_SUITE_END()
