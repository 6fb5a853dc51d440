// `biaslab tokenize`, called in-process with redirected std::cin / std::cout / std::cerr.
#include <boost/test/unit_test.hpp>

#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "test_util.hpp"

namespace {

struct CliRun {
  int rc;
  std::string out, err;
};

CliRun run_tokenize(const biaslab::cli::Args& args, const std::string& input) {
  std::istringstream in(input);
  std::ostringstream out, err;
  auto* old_in = std::cin.rdbuf(in.rdbuf());
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  int rc;
  try {
    rc = biaslab::cli::cmd_tokenize(args, biaslab::cli::GlobalOptions{});
  } catch (...) {
    std::cin.rdbuf(old_in);
    std::cout.rdbuf(old_out);
    std::cerr.rdbuf(old_err);
    throw;
  }
  std::cin.rdbuf(old_in);
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  return {rc, out.str(), err.str()};
}

std::vector<nlohmann::json> rows(const std::string& out) {
  std::vector<nlohmann::json> result;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) result.push_back(nlohmann::json::parse(line));
  return result;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli_tokenize)

BOOST_AUTO_TEST_CASE(one_json_object_per_line) {
  const std::string dir = (biaslab::test::tokenizer_data_dir() / "roberta-base").string();
  const auto run = run_tokenize({"--tokenizer", dir, "--special"}, "Hello world\n\nThe capital of France is <mask>.\n");
  BOOST_REQUIRE_EQUAL(run.rc, 0);
  const auto out = rows(run.out);
  BOOST_REQUIRE_EQUAL(out.size(), 3u);
  BOOST_CHECK(out[0]["ids"] == nlohmann::json({0, 31414, 232, 2}));
  BOOST_CHECK(out[0]["tokens"] == nlohmann::json({"<s>", "Hello", "\xC4\xA0world", "</s>"}));
  BOOST_CHECK(out[0]["offsets"] == nlohmann::json::parse("[[0,0],[0,5],[6,11],[0,0]]"));
  BOOST_CHECK(out[1]["ids"] == nlohmann::json({0, 2}));  // empty line
  BOOST_CHECK(out[2]["ids"] == nlohmann::json({0, 133, 812, 9, 1470, 16, 50264, 4, 2}));  // README sanity value

  const auto plain = run_tokenize({"-t", dir}, "Hello world\n");
  BOOST_REQUIRE_EQUAL(plain.rc, 0);
  BOOST_CHECK(rows(plain.out)[0]["ids"] == nlohmann::json({31414, 232}));
}

BOOST_AUTO_TEST_CASE(usage_and_errors) {
  const auto help = run_tokenize({"--help"}, "");
  BOOST_CHECK_EQUAL(help.rc, 0);
  BOOST_CHECK(help.out.find("--tokenizer") != std::string::npos);

  const auto bad_path = run_tokenize({"--tokenizer", "/nonexistent/tok"}, "x\n");
  BOOST_CHECK_EQUAL(bad_path.rc, 2);
  BOOST_CHECK(bad_path.out.empty());
  BOOST_CHECK(bad_path.err.find("/nonexistent/tok") != std::string::npos);

  BOOST_CHECK_EQUAL(run_tokenize({}, "x\n").rc, 2);
  BOOST_CHECK_EQUAL(run_tokenize({"--bogus"}, "x\n").rc, 2);

  const std::string dir = (biaslab::test::tokenizer_data_dir() / "gpt2").string();
  const auto invalid = run_tokenize({"--tokenizer", dir}, "ok\nbad \xFF\n");
  BOOST_CHECK_EQUAL(invalid.rc, 1);
  BOOST_CHECK(invalid.err.find("line 2") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
