#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include <iostream>
#include <regex>
#include <sstream>

#include "cli/commands.hpp"
#include "data/test_support.hpp"

namespace fs = std::filesystem;
using biaslab::data::test::TempDir;

namespace {

struct CliRun {
  int code = -1;
  std::string out, err;
};

// Runs `biaslab data ARGS...` in-process, capturing stdout and stderr.
CliRun run_data(const biaslab::cli::Args& args) {
  std::ostringstream out, err;
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  CliRun run;
  try {
    run.code = biaslab::cli::cmd_data(args, biaslab::cli::GlobalOptions{});
  } catch (...) {
    std::cout.rdbuf(old_out);
    std::cerr.rdbuf(old_err);
    throw;
  }
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  run.out = out.str();
  run.err = err.str();
  return run;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cmd_data)

BOOST_AUTO_TEST_CASE(help_and_usage_errors) {
  auto help = run_data({"--help"});
  BOOST_TEST(help.code == 0);
  BOOST_TEST(help.out.find("usage: biaslab data list [--json]") == 0);
  BOOST_TEST(help.out.find("--offline") != std::string::npos);
  BOOST_TEST(run_data({}).code == 2);
  const auto unknown = run_data({"frobnicate"});
  BOOST_TEST(unknown.code == 2);
  BOOST_TEST(unknown.err.find("biaslab data: unknown action 'frobnicate'") == 0);
  BOOST_TEST(run_data({"list", "--bogus-option"}).code == 2);
  BOOST_TEST(run_data({"path"}).code == 2);
  BOOST_TEST(run_data({"fetch", "crows_pairs", "--all", "--offline"}).code == 2);
  const auto bad_name = run_data({"path", "crows", "--offline"});
  BOOST_TEST(bad_name.code == 2);
  BOOST_TEST(bad_name.err.find("biaslab data: unknown data set 'crows'; known data sets: crows_pairs,") == 0);
  const auto bad_file = run_data({"path", "crows_pairs", "nope.csv", "--offline"});
  BOOST_TEST(bad_file.code == 2);
  BOOST_TEST(bad_file.err.find("data set 'crows_pairs' has no file 'nope.csv'; its files: DATA_README.md, LICENSE.md,") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(path_fetch_and_verify_with_the_mirror) {
  TempDir cache;
  const fs::path shared = biaslab::data::test::shared_data_dir();
  const std::string cache_dir = cache.path().string();
  auto folder = run_data({"path", "crows_pairs", "--offline", "--cache-dir", cache_dir, "--mirror", shared.string()});
  BOOST_TEST(folder.code == 0);
  BOOST_TEST(folder.out == (shared / "crows_pairs").string() + "\n");
  auto file = run_data({"path", "crows_pairs", "crows_pairs_anonymized.csv", "--offline", "--cache-dir", cache_dir});
  BOOST_TEST(file.code == 0);  // the mirror comes from BIASLAB_DATA_MIRROR here
  BOOST_TEST(file.out == (shared / "crows_pairs" / "crows_pairs_anonymized.csv").string() + "\n");

  auto fetch = run_data({"fetch", "crows_pairs", "tokenizers/gpt2", "--offline", "--cache-dir", cache_dir});
  BOOST_TEST(fetch.code == 0);
  BOOST_TEST(fetch.out == "crows_pairs: " + (shared / "crows_pairs").string() + "\ntokenizers/gpt2: " +
                              (shared / "tokenizers" / "gpt2").string() + "\n");

  auto verify = run_data({"verify", "crows_pairs", "seat", "--offline", "--cache-dir", cache_dir});
  BOOST_TEST(verify.code == 0);
  BOOST_TEST(verify.out == "crows_pairs: OK (4 of 4 files present and verified)\nseat: OK (53 of 53 files present and verified)\n");
}

BOOST_AUTO_TEST_CASE(missing_data_fails_with_exit_code_1) {
  TempDir cache, empty_mirror;
  auto path = run_data({"path", "crows_pairs", "--offline", "--cache-dir", cache.path().string(), "--mirror",
                        empty_mirror.path().string()});
  BOOST_TEST(path.code == 1);
  BOOST_TEST(path.err.find("biaslab data path: data set 'crows_pairs' is not available offline: 2 files are missing:") == 0);
  auto verify = run_data({"verify", "crows_pairs", "--offline", "--cache-dir", cache.path().string(), "--mirror",
                          empty_mirror.path().string()});
  BOOST_TEST(verify.code == 1);
  BOOST_TEST(verify.out == "crows_pairs: DATA_README.md: missing\ncrows_pairs: crows_pairs_anonymized.csv: missing\n"
                           "crows_pairs: FAILED (0 of 4 files present and verified, 2 problems)\n");
}

BOOST_AUTO_TEST_CASE(list_shows_where_size_and_license) {
  TempDir cache, partial_mirror;
  // A mirror with one of the two required CrowS-Pairs files and every tinyshakespeare file.
  const fs::path shared = biaslab::data::test::shared_data_dir();
  fs::create_directories(partial_mirror / "crows_pairs");
  fs::copy_file(shared / "crows_pairs/DATA_README.md", partial_mirror / "crows_pairs/DATA_README.md");
  fs::create_directories(partial_mirror / "corpora/tinyshakespeare");
  fs::copy_file(shared / "corpora/tinyshakespeare/input.txt", partial_mirror / "corpora/tinyshakespeare/input.txt");

  auto list = run_data({"list", "--cache-dir", cache.path().string(), "--mirror", partial_mirror.path().string()});
  BOOST_TEST(list.code == 0);
  BOOST_TEST(list.out.find("NAME ") == 0);
  // crows_pairs: 4 files, 2,892 + 20,850 + 2,534 + 437,764 bytes = 464,040 B = 453.2 KiB.
  BOOST_TEST(std::regex_search(list.out, std::regex(R"(\ncrows_pairs +4 +453\.2 KiB +partial 1/2 +CC BY-SA 4\.0\n)")), list.out);
  BOOST_TEST(std::regex_search(list.out, std::regex(R"(\ncorpora/tinyshakespeare +1 +1\.1 MiB +mirror +public domain)")));
  BOOST_TEST(std::regex_search(list.out, std::regex(R"(\nstereoset +12 +[0-9.]+ MiB +missing\* +CC BY-SA 4\.0\n)")));
  BOOST_TEST(list.out.find("cache:  " + cache.path().string()) != std::string::npos);

  auto json = run_data({"list", "--json", "--cache-dir", cache.path().string(), "--mirror", shared.string()});
  BOOST_TEST(json.code == 0);
  const auto parsed = nlohmann::json::parse(json.out);
  BOOST_TEST(parsed.size() == 23u);
  for (const auto& set : parsed) BOOST_TEST(set["where"].get<std::string>() == "mirror", set["name"].get<std::string>());
  BOOST_TEST(parsed[0]["name"] == "crows_pairs");
  BOOST_TEST(parsed[0]["files"][3]["sha256"] == "dfb36986ce0502abbaf7055b9176da3d08d48e07df1251991b5dfbcbceab9d0c");
}

BOOST_AUTO_TEST_SUITE_END()
