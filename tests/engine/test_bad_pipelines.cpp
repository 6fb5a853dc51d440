// Bad pipeline files in, exact messages out (as MLIR's parser tests do). Each file in bad/ has
// a sibling <name>.expected holding the diagnostics, one per line. Set BIASLAB_BLESS=1 to write
// the .expected files from the current output (then review the diff).
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>

#include "engine_fixture.hpp"

using namespace biaslab;
using namespace biaslab::testing;

BOOST_AUTO_TEST_CASE(bad_pipelines_give_exact_messages) {
  auto dir = env_path("BIASLAB_SOURCE_DIR") / "tests" / "engine" / "bad";
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".toml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  BOOST_REQUIRE_GE(files.size(), 15u);
  const bool bless = std::getenv("BIASLAB_BLESS") != nullptr;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream text;
    text << in.rdbuf();
    std::string got = errors_of(text.str(), f.filename().string());
    auto expected_file = std::filesystem::path(f).replace_extension(".expected");
    if (bless) {
      std::ofstream(expected_file) << got << "\n";
      continue;
    }
    std::ifstream ein(expected_file);
    BOOST_REQUIRE_MESSAGE(ein, "missing " << expected_file);
    std::stringstream expected;
    expected << ein.rdbuf();
    std::string want = expected.str();
    if (!want.empty() && want.back() == '\n') want.pop_back();
    BOOST_TEST_CONTEXT(f.filename().string()) {
      BOOST_TEST(!got.empty());
      BOOST_TEST(got == want);
    }
  }
}
