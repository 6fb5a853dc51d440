#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "biaslab/data/data_manager.hpp"
#include "biaslab/data/errors.hpp"
#include "biaslab/data/sha256.hpp"
#include "data/test_support.hpp"

using namespace biaslab::data;
namespace fs = std::filesystem;

namespace {

constexpr const char* kCrowsSha = "dfb36986ce0502abbaf7055b9176da3d08d48e07df1251991b5dfbcbceab9d0c";

DataManagerOptions options_for(const fs::path& mirror, const fs::path& cache, bool offline) {
  DataManagerOptions options;
  options.mirror_dir = mirror;
  options.cache_dir = cache;
  options.offline = offline;
  options.download.progress_bar = ProgressBar::Never;
  options.download.retry_delay = std::chrono::milliseconds(0);
  return options;
}

// A small registry served by a test server: "toy/set" (folder "toy") has two required files with
// URLs, one optional file with a URL and one optional mirror-only file; "toy/broken" has a wrong
// sha256; "toy/mirror-only" has a required file without URL.
struct ToyHub {
  std::string a = "alpha\n";
  std::shared_ptr<std::string> c = std::make_shared<std::string>(test::make_bytes(50000, 3));
  std::string d = "delta (written here)\n";
  std::string e = "echo\n";
  test::TestServer server;
  Registry registry;

  ToyHub() {
    server.http().Get("/toy/a.txt", [this](const httplib::Request&, httplib::Response& r) { r.set_content(a, "text/plain"); });
    test::serve_bytes(server.http(), "/toy/b/c.txt", c);
    server.http().Get("/toy/e.txt", [this](const httplib::Request&, httplib::Response& r) { r.set_content(e, "text/plain"); });
    server.start();
    auto entry = [](const std::string& path, const std::string& content, const std::string& url, bool required) {
      nlohmann::json file = {{"path", path}, {"sha256", sha256_hex(content)}, {"size", content.size()}, {"required", required}};
      if (url.empty()) {
        file["url"] = nullptr;
        file["note"] = "written here";
      } else {
        file["url"] = url;
      }
      return file;
    };
    nlohmann::json toy_set = {{"name", "toy/set"}, {"folder", "toy"}, {"license", "MIT"}};
    toy_set["files"] = {entry("a.txt", a, server.url("/toy/a.txt"), true),
                        entry("b/c.txt", *c, server.url("/toy/b/c.txt"), true), entry("d.txt", d, "", false),
                        entry("e.txt", e, server.url("/toy/e.txt"), false)};
    nlohmann::json broken = {{"name", "toy/broken"}, {"folder", "broken"}};
    broken["files"] = nlohmann::json::array();
    broken["files"].push_back(
        {{"path", "x.txt"}, {"sha256", std::string(64, 'b')}, {"size", a.size()}, {"url", server.url("/toy/a.txt")}});
    nlohmann::json mirror_only = {{"name", "toy/mirror-only"}, {"folder", "mo"}};
    mirror_only["files"] = nlohmann::json::array();
    mirror_only["files"].push_back(entry("m.txt", "m", "", true));
    nlohmann::json document;
    document["datasets"] = {toy_set, broken, mirror_only};
    registry = Registry::from_json(document.dump(), "toy");
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(data_manager)

// BIASLAB_DATA_MIRROR=shared/data (set by CTest): the mirror folder is used after checking the
// real sha256 of every required file.
BOOST_AUTO_TEST_CASE(mirror_resolution_verifies_real_files) {
  test::TempDir cache;
  DataManager manager(options_for(test::shared_data_dir(), cache.path(), /*offline=*/true));
  BOOST_TEST(manager.resolve("crows_pairs") == test::shared_data_dir() / "crows_pairs");
  BOOST_TEST(manager.file("crows_pairs", "crows_pairs_anonymized.csv") ==
             test::shared_data_dir() / "crows_pairs" / "crows_pairs_anonymized.csv");
  BOOST_TEST((manager.status("crows_pairs").location == Location::Mirror));
  BOOST_TEST(manager.resolve("tokenizers/gpt2") == test::shared_data_dir() / "tokenizers" / "gpt2");
  // The verification result was remembered with the real hash.
  const auto cached = nlohmann::json::parse(test::read_file(cache / ".verified.json"));
  const std::string key = (test::shared_data_dir() / "crows_pairs" / "crows_pairs_anonymized.csv").string();
  BOOST_TEST(cached["files"][key]["sha256"].get<std::string>() == kCrowsSha);
  BOOST_TEST(cached["files"][key]["size"].get<std::uint64_t>() == 437764u);
}

BOOST_AUTO_TEST_CASE(every_mirror_data_set_verifies) {
  test::TempDir cache;
  DataManager manager(options_for(test::shared_data_dir(), cache.path(), true));
  std::size_t files = 0;
  for (const auto& set : manager.registry().datasets()) {
    const auto report = manager.verify(set.name);
    BOOST_TEST(report.ok(), set.name);
    for (const auto& f : report.files) {
      BOOST_TEST((f.location == Location::Mirror), set.name + "/" + f.file->path);
      ++files;
    }
  }
  BOOST_TEST(files == 167u);
}

// The sha256 of a checked file is trusted while (size, mtime, inode) are unchanged; verify()
// always re-hashes; any change to the file forces a new hash.
BOOST_AUTO_TEST_CASE(verification_cache_is_used_and_invalidated) {
  test::TempDir mirror, cache;
  fs::create_directories(mirror / "crows_pairs");
  for (const char* name : {"crows_pairs_anonymized.csv", "DATA_README.md"})
    fs::copy_file(test::shared_data_dir() / "crows_pairs" / name, mirror / (std::string("crows_pairs/") + name));
  const fs::path csv = mirror / "crows_pairs/crows_pairs_anonymized.csv";
  {
    DataManager manager(options_for(mirror.path(), cache.path(), true));
    BOOST_TEST(manager.resolve("crows_pairs") == mirror / "crows_pairs");
  }
  // Pretend an earlier check had found another hash: the cheap path believes the cache ...
  auto document = nlohmann::json::parse(test::read_file(cache / ".verified.json"));
  document["files"][csv.string()]["sha256"] = std::string(64, '0');
  test::write_file(cache / ".verified.json", document.dump());
  {
    DataManager manager(options_for(mirror.path(), cache.path(), true));
    const auto status = manager.status("crows_pairs");
    BOOST_TEST((status.location == Location::Missing));
    const auto& csv_status = status.files[3];
    BOOST_TEST(csv_status.file->path == "crows_pairs_anonymized.csv");
    BOOST_TEST(csv_status.problem == "mirror copy " + csv.string() + " has sha256 " + std::string(64, '0') +
                                         ", expected " + kCrowsSha);
    // ... while verify() hashes again, finds the file correct and repairs the cache.
    BOOST_TEST(manager.verify("crows_pairs").ok());
    BOOST_TEST((manager.status("crows_pairs").location == Location::Mirror));
  }
  // Same size, one byte changed: the new mtime forces a new hash, which is wrong.
  std::string content = test::read_file(csv);
  content[100] = content[100] == 'x' ? 'y' : 'x';
  test::write_file(csv, content);
  const std::string actual = sha256_hex(content);
  {
    DataManager manager(options_for(mirror.path(), cache.path(), true));
    const auto report = manager.verify("crows_pairs");
    BOOST_TEST(!report.ok());
    BOOST_TEST(report.failures() == 1u);
    BOOST_TEST(report.files[3].problem == "mirror copy " + csv.string() + " has sha256 " + actual + ", expected " + kCrowsSha);
    BOOST_CHECK_THROW(manager.resolve("crows_pairs"), DataError);
  }
}

BOOST_AUTO_TEST_CASE(offline_and_missing_error_text) {
  test::TempDir cache;
  DataManager manager(options_for({}, cache.path(), /*offline=*/true));
  try {
    manager.resolve("crows_pairs");
    BOOST_FAIL("expected a DataError");
  } catch (const DataError& error) {
    BOOST_TEST(std::string(error.what()) ==
               "data set 'crows_pairs' is not available offline: 2 files are missing:\n"
               "  crows_pairs/DATA_README.md\n"
               "  crows_pairs/crows_pairs_anonymized.csv\n"
               "Searched: no mirror (BIASLAB_DATA_MIRROR is not set); cache " +
                   (cache / "crows_pairs").string() +
                   ".\n"
                   "Expected mirror layout: <mirror>/crows_pairs/<file>, e.g. <mirror>/crows_pairs/DATA_README.md; "
                   "set BIASLAB_DATA_MIRROR=<mirror> (shared/data has this layout), or turn off offline mode "
                   "(BIASLAB_OFFLINE) to download.");
  }
  BOOST_CHECK_THROW(manager.file("crows_pairs", "crows_pairs_anonymized.csv"), DataError);
}

// stereoset/dev_reconstructed.json has no public URL: the error says it is mirror-only.
BOOST_AUTO_TEST_CASE(mirror_only_files_are_named_in_errors) {
  test::TempDir empty_mirror, cache;
  DataManager manager(options_for(empty_mirror.path(), cache.path(), true));
  try {
    manager.resolve("stereoset");
    BOOST_FAIL("expected a DataError");
  } catch (const DataError& error) {
    const std::string message = error.what();
    BOOST_TEST(message.find("data set 'stereoset' is not available offline: 6 files are missing:\n") == 0);
    BOOST_TEST(message.find("\n  stereoset/dev_reconstructed.json (mirror-only: no public download URL; reconstructed from "
                            "third-party copies by sources/reconstruct_dev.py;") != std::string::npos);
    BOOST_TEST(message.find("\nSearched: mirror " + (empty_mirror / "stereoset").string() + "; cache ") != std::string::npos);
    BOOST_TEST(message.find("\nMirror-only files cannot be downloaded; only a mirror can provide them.") != std::string::npos);
  }

  ToyHub toy;
  DataManager online(options_for({}, cache.path(), false), toy.registry);
  try {
    online.resolve("toy/mirror-only");
    BOOST_FAIL("expected a DataError");
  } catch (const DataError& error) {
    BOOST_TEST(std::string(error.what()) ==
               "data set 'toy/mirror-only' is not available: 1 file is missing:\n"
               "  mo/m.txt (mirror-only: no public download URL; written here)\n"
               "Searched: no mirror (BIASLAB_DATA_MIRROR is not set); cache " +
                   (cache / "mo").string() +
                   ".\n"
                   "Expected mirror layout: <mirror>/mo/<file>, e.g. <mirror>/mo/m.txt; set BIASLAB_DATA_MIRROR=<mirror> "
                   "(shared/data has this layout).\n"
                   "Mirror-only files cannot be downloaded; only a mirror can provide them.");
  }
  BOOST_TEST(toy.server.log().empty());
}

BOOST_AUTO_TEST_CASE(downloads_into_the_cache_once) {
  ToyHub toy;
  test::TempDir cache;
  {
    DataManager manager(options_for({}, cache.path(), false), toy.registry);
    BOOST_TEST((manager.status("toy/set").location == Location::Missing));
    BOOST_TEST(manager.resolve("toy/set") == cache / "toy");
  }
  BOOST_TEST(test::read_file(cache / "toy/a.txt") == toy.a);
  BOOST_TEST(test::read_file(cache / "toy/b/c.txt") == *toy.c);
  BOOST_TEST(!fs::exists(cache / "toy/e.txt"));  // optional files are not needed by resolve()
  BOOST_TEST(toy.server.count("GET", "/toy/a.txt") == 1u);
  BOOST_TEST(toy.server.count("GET", "/toy/b/c.txt") == 1u);

  DataManager manager(options_for({}, cache.path(), false), toy.registry);
  BOOST_TEST((manager.status("toy/set").location == Location::Cache));
  BOOST_TEST(manager.resolve("toy/set") == cache / "toy");
  BOOST_TEST(toy.server.log().size() == 2u);  // nothing downloaded again

  BOOST_TEST(manager.fetch("toy/set") == cache / "toy");
  BOOST_TEST(test::read_file(cache / "toy/e.txt") == toy.e);
  BOOST_TEST(toy.server.log().size() == 3u);
  BOOST_TEST(manager.file("toy/set", "e.txt") == cache / "toy/e.txt");
  BOOST_TEST(toy.server.log().size() == 3u);

  try {
    manager.file("toy/set", "d.txt");
    BOOST_FAIL("expected a DataError");
  } catch (const DataError& error) {
    BOOST_TEST(std::string(error.what()).find("  toy/d.txt (mirror-only: no public download URL; written here)") != std::string::npos);
  }
  try {
    manager.file("toy/set", "nope.txt");
    BOOST_FAIL("expected a DataError");
  } catch (const DataError& error) {
    BOOST_TEST(std::string(error.what()) == "data set 'toy/set' has no file 'nope.txt'; its files: a.txt, b/c.txt, d.txt, e.txt");
  }
}

// A mirror that has only some files: the cache folder is completed from the mirror and the URL.
BOOST_AUTO_TEST_CASE(partial_mirror_is_completed_in_the_cache) {
  ToyHub toy;
  test::TempDir mirror, cache;
  test::write_file(mirror / "toy/a.txt", toy.a);
  test::write_file(mirror / "toy/d.txt", toy.d);
  DataManager manager(options_for(mirror.path(), cache.path(), false), toy.registry);
  const auto status = manager.status("toy/set");
  BOOST_TEST((status.location == Location::Missing));
  BOOST_TEST(status.required_present() == 1u);
  BOOST_TEST(status.required_total() == 2u);
  BOOST_TEST(manager.resolve("toy/set") == cache / "toy");
  BOOST_TEST(test::read_file(cache / "toy/a.txt") == toy.a);
  BOOST_TEST(test::read_file(cache / "toy/b/c.txt") == *toy.c);
  BOOST_TEST(toy.server.count("GET", "/toy/a.txt") == 0u);
  BOOST_TEST(toy.server.count("GET", "/toy/b/c.txt") == 1u);
  // An optional mirror-only file comes from the mirror.
  BOOST_TEST(manager.file("toy/set", "d.txt") == mirror / "toy/d.txt");
}

BOOST_AUTO_TEST_CASE(corrupt_cache_copy_is_downloaded_again) {
  ToyHub toy;
  test::TempDir cache;
  DataManager manager(options_for({}, cache.path(), false), toy.registry);
  manager.resolve("toy/set");
  test::write_file(cache / "toy/a.txt", "alphX\n");  // same size, other bytes
  BOOST_TEST(manager.resolve("toy/set") == cache / "toy");
  BOOST_TEST(test::read_file(cache / "toy/a.txt") == toy.a);
  BOOST_TEST(toy.server.count("GET", "/toy/a.txt") == 2u);
}

BOOST_AUTO_TEST_CASE(wrong_sha256_from_the_server_is_an_error) {
  ToyHub toy;
  test::TempDir cache;
  DataManager manager(options_for({}, cache.path(), false), toy.registry);
  try {
    manager.resolve("toy/broken");
    BOOST_FAIL("expected a ChecksumError");
  } catch (const ChecksumError& error) {
    BOOST_TEST(std::string(error.what()) == "sha256 mismatch for " + toy.server.url("/toy/a.txt") + ": expected " +
                                                std::string(64, 'b') + ", got " + sha256_hex(toy.a) + " (6 bytes; destination " +
                                                (cache / "broken/x.txt").string() + "; the download was discarded)");
  }
  BOOST_TEST(!fs::exists(cache / "broken/x.txt"));
}

BOOST_AUTO_TEST_CASE(options_from_the_environment) {
  {
    test::ScopedEnv mirror("BIASLAB_DATA_MIRROR", "/some/mirror");
    test::ScopedEnv dir("BIASLAB_DATA_DIR", "/some/cache");
    test::ScopedEnv offline("BIASLAB_OFFLINE", "1");
    const auto options = DataManagerOptions::from_environment();
    BOOST_TEST(options.mirror_dir == "/some/mirror");
    BOOST_TEST(options.cache_dir == "/some/cache");
    BOOST_TEST(options.offline);
  }
  test::ScopedEnv dir("BIASLAB_DATA_DIR", std::nullopt);
  test::ScopedEnv offline("BIASLAB_OFFLINE", std::nullopt);
  {
    test::ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
    BOOST_TEST(default_data_cache_dir() == "/xdg/biaslab/data");
    BOOST_TEST(!DataManagerOptions::from_environment().offline);
  }
  test::ScopedEnv xdg("XDG_CACHE_HOME", std::nullopt);
  test::ScopedEnv home("HOME", "/home/someone");
  BOOST_TEST(default_data_cache_dir() == "/home/someone/.cache/biaslab/data");
}

BOOST_AUTO_TEST_SUITE_END()
