#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <system_error>

#include "biaslab/atomic_file.hpp"
#include "results_test_util.hpp"

using biaslab::write_file_atomic;
using biaslab::results::test::read_text;
using biaslab::results::test::TempDir;
namespace fs = std::filesystem;

namespace {
std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(atomic_file)

BOOST_AUTO_TEST_CASE(writes_and_replaces_content_without_leftovers) {
  TempDir dir;
  const fs::path p = dir.path() / "out.txt";
  write_file_atomic(p, std::string("first\0binary", 12));
  BOOST_TEST(read_text(p) == std::string("first\0binary", 12));
  write_file_atomic(p, "second");
  BOOST_TEST(read_text(p) == "second");
  write_file_atomic(p, "");
  BOOST_TEST(read_text(p).empty());
  BOOST_TEST(entries(dir.path()) == std::vector<std::string>{"out.txt"});
}

BOOST_AUTO_TEST_CASE(new_file_mode_follows_umask) {
  TempDir dir;
  const mode_t old = ::umask(027);
  write_file_atomic(dir.path() / "m.txt", "x");
  ::umask(old);
  struct stat st {};
  BOOST_REQUIRE(::stat((dir.path() / "m.txt").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0640u);
}

BOOST_AUTO_TEST_CASE(missing_directory_throws_naming_the_path) {
  TempDir dir;
  const fs::path p = dir.path() / "no-such-dir" / "out.txt";
  try {
    write_file_atomic(p, "x");
    BOOST_FAIL("expected std::system_error");
  } catch (const std::system_error& e) {
    BOOST_TEST(std::string(e.what()).find((dir.path() / "no-such-dir").string()) !=
               std::string::npos);
    BOOST_TEST(e.code().value() == ENOENT);
  }
}

BOOST_AUTO_TEST_CASE(failed_rename_removes_the_temporary_file) {
  TempDir dir;
  fs::create_directory(dir.path() / "target");
  fs::create_directory(dir.path() / "target" / "child");  // non-empty dir: rename must fail
  try {
    write_file_atomic(dir.path() / "target", "x");
    BOOST_FAIL("expected std::system_error");
  } catch (const std::system_error& e) {
    BOOST_TEST(std::string(e.what()).find("target") != std::string::npos);
  }
  BOOST_TEST(entries(dir.path()) == std::vector<std::string>{"target"});
}

BOOST_AUTO_TEST_SUITE_END()
