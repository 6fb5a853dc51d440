#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <map>

#include "biaslab/data/errors.hpp"
#include "biaslab/data/hub.hpp"
#include "biaslab/data/sha256.hpp"
#include "data/test_support.hpp"

using namespace biaslab::data;
namespace fs = std::filesystem;

namespace {

// git's blob id: sha1("blob <size>\0" + content), the ETag the Hub sends for files stored in git.
std::string git_blob_sha1(const std::string& content) {
  const std::string object = "blob " + std::to_string(content.size()) + std::string(1, '\0') + content;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(object.data(), object.size(), digest, &length, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

const std::string kMain = "5b3f8a0e6c2d4f1a9b7e3c5d2f4a6b8c0d1e2f3a";
const std::string kStep1000 = "e1c7a9b2d4f6081357924680ace13579bdf02468";

// A small imitation of the Hub: resolve URLs (HEAD/GET), the model-info API, an LFS file served
// through a redirect to a "CDN" on another port whose first transfer breaks after 70,000 bytes,
// a renamed repository (relative redirect) and a repository with a hostile file name.
struct FakeHub {
  struct RepoFile {
    std::string content;
    bool lfs = false;
  };
  test::TestServer hub, cdn;
  std::map<std::string, std::map<std::string, RepoFile>> trees;  // commit -> path -> file
  std::map<std::string, std::string> refs{{"main", kMain}, {"step1000", kStep1000}};
  std::map<std::string, std::shared_ptr<std::string>> blobs;  // sha256 -> content
  int cdn_failures = 1;
  static constexpr std::size_t kCutAfter = 70000;

  FakeHub() {
    trees[kStep1000] = {{"config.json", {R"({"model_type": "gpt_neox", "step": 1000})"}},
                        {"model.safetensors", {test::make_bytes(200000, 11), true}},
                        {"tokenizer.json", {R"({"version": "1.0", "model": {"type": "BPE"}})"}},
                        {"sub/nested.json", {R"({"nested": true})"}},
                        {"README.md", {"# tiny model\n"}}};
    trees[kMain] = {{"config.json", {R"({"model_type": "gpt_neox", "step": 143000})"}},
                    {"model.safetensors", {test::make_bytes(1000, 12), true}},
                    {"tokenizer.json", {R"({"version": "1.0", "model": {"type": "BPE"}})"}}};
    for (const auto& [commit, tree] : trees)
      for (const auto& [path, file] : tree)
        if (file.lfs) blobs[sha256_hex(file.content)] = std::make_shared<std::string>(file.content);

    hub.http().Get(R"(/([^/]+)/([^/]+)/resolve/([^/]+)/(.+))", [this](const httplib::Request& q, httplib::Response& r) {
      resolve(q, r);
    });
    hub.http().Get(R"(/api/models/([^/]+)/([^/]+)/revision/(.+))", [this](const httplib::Request& q, httplib::Response& r) {
      api(q, r);
    });
    cdn.http().Get(R"(/blobs/([0-9a-f]{64}))", [this](const httplib::Request& q, httplib::Response& r) {
      auto it = blobs.find(q.matches[1]);
      if (it == blobs.end()) {
        r.status = 404;
        return;
      }
      auto content = it->second;
      const bool cut = content->size() > kCutAfter && cdn_failures > 0;
      if (cut) --cdn_failures;
      r.set_content_provider(content->size(), "application/octet-stream",
                             [content, cut](size_t offset, size_t length, httplib::DataSink& sink) {
                               size_t end = offset + length;
                               if (cut && end > kCutAfter) end = kCutAfter;
                               if (end > offset) sink.write(content->data() + offset, end - offset);
                               return !(cut && offset + length > kCutAfter);
                             });
    });
    hub.start();
    cdn.start();
  }

  static void error(httplib::Response& r, int status, const std::string& code, const std::string& message) {
    r.status = status;
    r.set_header("X-Error-Code", code);
    r.set_header("X-Error-Message", message);
  }

  std::optional<std::string> commit_of(const std::string& revision) const {
    if (trees.count(revision)) return revision;
    auto it = refs.find(revision);
    if (it != refs.end()) return it->second;
    return std::nullopt;
  }

  void resolve(const httplib::Request& q, httplib::Response& r) {
    const std::string repo = q.matches[1].str() + "/" + q.matches[2].str();
    const std::string revision = q.matches[3], path = q.matches[4];
    if (repo == "old-org/tiny-model") {  // renamed: relative redirect like the Hub's
      r.status = 307;
      r.set_header("Location", "/org/tiny-model/resolve/" + revision + "/" + path);
      return;
    }
    if (repo != "org/tiny-model") return error(r, 404, "RepoNotFound", "Repository not found");
    const auto commit = commit_of(revision);
    if (!commit) return error(r, 404, "RevisionNotFound", "Invalid rev id: " + revision);
    r.set_header("X-Repo-Commit", *commit);
    const auto& tree = trees.at(*commit);
    auto it = tree.find(path);
    if (it == tree.end()) return error(r, 404, "EntryNotFound", "Entry not found");
    const RepoFile& file = it->second;
    if (file.lfs) {
      const std::string sha = sha256_hex(file.content);
      r.status = 302;
      r.set_header("Location", cdn.url("/blobs/" + sha));
      r.set_header("X-Linked-Etag", "\"" + sha + "\"");
      r.set_header("X-Linked-Size", std::to_string(file.content.size()));
      r.set_header("ETag", "\"" + git_blob_sha1("version https://git-lfs.github.com/spec/v1\n") + "\"");
      return;
    }
    r.set_header("ETag", "\"" + git_blob_sha1(file.content) + "\"");
    r.set_content(file.content, "application/octet-stream");
  }

  void api(const httplib::Request& q, httplib::Response& r) {
    const std::string repo = q.matches[1].str() + "/" + q.matches[2].str();
    const std::string revision = q.matches[3];
    if (repo == "evil/repo") {
      r.set_content(nlohmann::json{{"sha", kMain}, {"siblings", {{{"rfilename", "../../escape.txt"}}}}}.dump(), "application/json");
      return;
    }
    if (repo != "org/tiny-model") return error(r, 404, "RepoNotFound", "Repository not found");
    const auto commit = commit_of(revision);
    if (!commit) return error(r, 404, "RevisionNotFound", "Invalid rev id: " + revision);
    nlohmann::json siblings = nlohmann::json::array();
    for (const auto& [path, file] : trees.at(*commit)) siblings.push_back({{"rfilename", path}});
    r.set_content(nlohmann::json{{"id", repo}, {"sha", *commit}, {"siblings", siblings}}.dump(), "application/json");
  }

  const RepoFile& file(const std::string& commit, const std::string& path) const { return trees.at(commit).at(path); }
  std::string etag(const std::string& commit, const std::string& path) const {
    const RepoFile& f = file(commit, path);
    return f.lfs ? sha256_hex(f.content) : git_blob_sha1(f.content);
  }
};

HubOptions options_for(const FakeHub& fake, const fs::path& cache, bool offline, const std::string& token = "hf_test_token") {
  HubOptions options;
  options.endpoint = fake.hub.origin();
  options.cache_dir = cache;
  options.token = token;
  options.offline = offline;
  options.metadata_timeout = std::chrono::seconds(5);
  options.download.progress_bar = ProgressBar::Never;
  options.download.retry_delay = std::chrono::milliseconds(0);
  return options;
}

std::vector<std::string> patterns() {
  auto p = default_model_patterns();
  p.push_back("sub/");
  return p;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hub)

BOOST_AUTO_TEST_CASE(snapshot_download_online_then_offline) {
  FakeHub fake;
  test::TempDir cache;
  const fs::path repo = cache / "models--org--tiny-model";
  const fs::path snapshot = repo / "snapshots" / kStep1000;

  HubClient client(options_for(fake, cache.path(), false));
  BOOST_TEST(client.snapshot_download("org/tiny-model", "step1000", patterns()) == snapshot);

  // refs/<revision> holds the commit sha, as written by huggingface_hub (no newline).
  BOOST_TEST(test::read_file(repo / "refs" / "step1000") == kStep1000);
  // Snapshot entries are relative symlinks to blobs named by etag (sha256 for LFS, git sha1 otherwise).
  for (const std::string path : {"config.json", "model.safetensors", "tokenizer.json", "sub/nested.json"}) {
    BOOST_TEST_CONTEXT(path) {
      const fs::path entry = snapshot / path;
      BOOST_REQUIRE(fs::is_symlink(entry));
      const std::string up = path.find('/') == std::string::npos ? "../../" : "../../../";
      BOOST_TEST(fs::read_symlink(entry).string() == up + "blobs/" + fake.etag(kStep1000, path));
      BOOST_TEST(test::read_file(entry) == fake.file(kStep1000, path).content);
      BOOST_TEST(fs::is_regular_file(repo / "blobs" / fake.etag(kStep1000, path)));
    }
  }
  BOOST_TEST(fake.etag(kStep1000, "model.safetensors") == sha256_hex(fake.file(kStep1000, "model.safetensors").content));
  BOOST_TEST(!fs::exists(snapshot / "README.md"));  // not matched by the patterns
  for (const auto& entry : fs::directory_iterator(repo / "blobs"))
    BOOST_TEST(entry.path().extension() != ".incomplete", entry.path().string());

  // The LFS blob came from the CDN: first transfer cut after 70,000 bytes, then resumed with Range.
  const std::string blob_path = "/blobs/" + fake.etag(kStep1000, "model.safetensors");
  const auto cdn_log = fake.cdn.log();
  BOOST_REQUIRE(cdn_log.size() == 2u);
  BOOST_TEST(cdn_log[0].path == blob_path);
  BOOST_TEST(cdn_log[0].range == "");
  BOOST_TEST(cdn_log[1].range == "bytes=70000-");
  BOOST_TEST(cdn_log[0].authorization == "");  // the token never goes to another host
  BOOST_TEST(cdn_log[1].authorization == "");
  // Every Hub request carried the token; files were resolved at the commit, not the branch.
  const auto hub_log = fake.hub.log();
  // (The server logs a request after answering it, so log order need not be request order.)
  BOOST_TEST(fake.hub.count("GET", "/api/models/org/tiny-model/revision/step1000") == 1u);
  for (const auto& r : hub_log) BOOST_TEST(r.authorization == "Bearer hf_test_token", r.method + " " + r.path);
  BOOST_TEST(fake.hub.count("HEAD", "/org/tiny-model/resolve/" + kStep1000 + "/config.json") == 1u);
  BOOST_TEST(fake.hub.count("GET", "/org/tiny-model/resolve/" + kStep1000 + "/config.json") == 1u);

  // Again online: only the API call, no file transfer.
  fake.hub.clear_log();
  BOOST_TEST(client.snapshot_download("org/tiny-model", "step1000", patterns()) == snapshot);
  BOOST_TEST(fake.hub.log().size() == 1u);
  BOOST_TEST(fake.cdn.log().size() == 2u);

  // main resolves to another commit; tokenizer.json has the same content, so the blob is shared.
  fake.hub.clear_log();
  const fs::path main_tokenizer = client.download("org/tiny-model", "tokenizer.json", "main");
  BOOST_TEST(main_tokenizer == repo / "snapshots" / kMain / "tokenizer.json");
  BOOST_TEST(test::read_file(repo / "refs" / "main") == kMain);
  BOOST_TEST(fs::read_symlink(main_tokenizer).string() == "../../blobs/" + fake.etag(kStep1000, "tokenizer.json"));
  BOOST_TEST(fake.hub.count("HEAD", "/org/tiny-model/resolve/main/tokenizer.json") == 1u);
  BOOST_TEST(fake.hub.count("GET", "/org/tiny-model/resolve/main/tokenizer.json") == 0u);
  BOOST_TEST(test::read_file(client.download("org/tiny-model", "config.json", "main")) ==
             fake.file(kMain, "config.json").content);

  // A file that does not exist: clear error, remembered in .no_exist like huggingface_hub.
  const std::string missing_url = fake.hub.url("/org/tiny-model/resolve/step1000/missing.json");
  try {
    client.download("org/tiny-model", "missing.json", "step1000");
    BOOST_FAIL("expected a NotFoundError");
  } catch (const NotFoundError& error) {
    BOOST_TEST(std::string(error.what()) == "not found: " + missing_url + " (HTTP 404): Entry not found");
  }
  BOOST_TEST(fs::exists(repo / ".no_exist" / kStep1000 / "missing.json"));

  // Offline: everything comes from the cache, no request at all.
  fake.hub.clear_log();
  fake.cdn.clear_log();
  HubClient offline(options_for(fake, cache.path(), true));
  BOOST_TEST(offline.snapshot_download("org/tiny-model", "step1000", patterns()) == snapshot);
  BOOST_TEST(offline.download("org/tiny-model", "config.json", "step1000") == snapshot / "config.json");
  BOOST_TEST(offline.download("org/tiny-model", "config.json", kMain) == repo / "snapshots" / kMain / "config.json");
  try {
    offline.download("org/tiny-model", "README.md", "step1000");
    BOOST_FAIL("expected an OfflineError");
  } catch (const OfflineError& error) {
    BOOST_TEST(std::string(error.what()) ==
               "offline mode (HF_HUB_OFFLINE): 'README.md' of org/tiny-model at revision 'step1000' is not in the Hugging "
               "Face cache: missing " + (snapshot / "README.md").string() + " (cache " + cache.path().string() +
                   "; unset HF_HUB_OFFLINE to download it)");
  }
  try {
    offline.download("org/tiny-model", "config.json", "v2");
    BOOST_FAIL("expected an OfflineError");
  } catch (const OfflineError& error) {
    BOOST_TEST(std::string(error.what()) ==
               "offline mode (HF_HUB_OFFLINE): 'config.json' of org/tiny-model at revision 'v2' is not in the Hugging "
               "Face cache: no " + (repo / "refs" / "v2").string() + " maps the revision to a commit (cache " +
                   cache.path().string() + "; unset HF_HUB_OFFLINE to download it)");
  }
  try {
    offline.download("org/tiny-model", "missing.json", "step1000");
    BOOST_FAIL("expected a NotFoundError");
  } catch (const NotFoundError& error) {
    BOOST_TEST(std::string(error.what()).find("offline mode (HF_HUB_OFFLINE): 'missing.json' does not exist in "
                                              "org/tiny-model at step1000") == 0);
  }
  try {
    offline.snapshot_download("org/tiny-model", "v2", patterns());
    BOOST_FAIL("expected an OfflineError");
  } catch (const OfflineError& error) {
    BOOST_TEST(std::string(error.what()) == "offline mode (HF_HUB_OFFLINE): revision 'v2' of org/tiny-model is not in the "
                                            "Hugging Face cache (no " + (repo / "refs" / "v2").string() + "; cache " +
                                                cache.path().string() + ")");
  }
  try {
    offline.snapshot_download("org/tiny-model", "step1000", {"*.bin"});
    BOOST_FAIL("expected an OfflineError");
  } catch (const OfflineError& error) {
    BOOST_TEST(std::string(error.what()).find("has no file matching [*.bin]; it has: ") != std::string::npos);
  }
  BOOST_TEST(fake.hub.log().empty());
  BOOST_TEST(fake.cdn.log().empty());

  // A snapshot whose blob was deleted is reported, not returned.
  fs::remove(repo / "blobs" / fake.etag(kStep1000, "config.json"));
  try {
    offline.snapshot_download("org/tiny-model", "step1000", patterns());
    BOOST_FAIL("expected a DataError");
  } catch (const DataError& error) {
    BOOST_TEST(std::string(error.what()) == "offline mode (HF_HUB_OFFLINE): the cached snapshot " + snapshot.string() +
                                                " has files whose blobs are missing: config.json");
  }
}

BOOST_AUTO_TEST_CASE(metadata_follows_relative_redirects) {
  FakeHub fake;
  test::TempDir cache;
  HubClient client(options_for(fake, cache.path(), false));
  const auto metadata = client.file_metadata("old-org/tiny-model", "config.json", "step1000");
  BOOST_TEST(metadata.commit == kStep1000);
  BOOST_TEST(metadata.etag == fake.etag(kStep1000, "config.json"));
  BOOST_TEST((metadata.size && *metadata.size == fake.file(kStep1000, "config.json").content.size()));
  BOOST_TEST(metadata.location == fake.hub.url("/org/tiny-model/resolve/step1000/config.json"));
  const auto lfs = client.file_metadata("org/tiny-model", "model.safetensors", "main");
  BOOST_TEST(lfs.etag == fake.etag(kMain, "model.safetensors"));
  BOOST_TEST((lfs.size && *lfs.size == 1000u));
  BOOST_TEST(lfs.location == fake.cdn.url("/blobs/" + lfs.etag));  // absolute redirects are not followed
  BOOST_TEST(fake.hub.count("HEAD", "/old-org/tiny-model/resolve/step1000/config.json") == 1u);
  BOOST_TEST(fake.cdn.log().empty());
}

BOOST_AUTO_TEST_CASE(api_errors_and_hostile_file_names) {
  FakeHub fake;
  test::TempDir cache;
  HubClient client(options_for(fake, cache.path(), false, ""));
  try {
    client.snapshot_download("org/nope", "main");
    BOOST_FAIL("expected a NotFoundError");
  } catch (const NotFoundError& error) {
    BOOST_TEST(std::string(error.what()) ==
               "not found: " + fake.hub.url("/api/models/org/nope/revision/main") + " (HTTP 404): Repository not found");
  }
  try {
    client.snapshot_download("org/tiny-model", "main", {"*.bin"});
    BOOST_FAIL("expected a DataError");
  } catch (const DataError& error) {
    BOOST_TEST(std::string(error.what()) == "no file of org/tiny-model at revision 'main' matches [*.bin]; the repository "
                                            "has: config.json, model.safetensors, tokenizer.json");
  }
  try {
    client.snapshot_download("evil/repo", "main");
    BOOST_FAIL("expected a DataError");
  } catch (const DataError& error) {
    BOOST_TEST(std::string(error.what()) == "refusing file name '../../escape.txt' of evil/repo: not a safe relative path");
  }
  BOOST_TEST(!fs::exists(cache / "escape.txt"));
  for (const auto& r : fake.hub.log()) BOOST_TEST(r.authorization == "");  // no token configured, none sent
  BOOST_CHECK_THROW(client.repo_folder("../etc"), DataError);
  BOOST_CHECK_THROW(client.repo_folder("a--b/c"), DataError);
  BOOST_CHECK_THROW(client.download("org/tiny-model", "config.json", "../../x"), DataError);
  BOOST_TEST(client.repo_folder("EleutherAI/pythia-70m") == cache / "models--EleutherAI--pythia-70m");
  BOOST_TEST(client.repo_folder("gpt2") == cache / "models--gpt2");
  BOOST_TEST(client.resolve_url("org/m", "a b.json", "refs/pr/1") == fake.hub.origin() + "/org/m/resolve/refs%2Fpr%2F1/a%20b.json");
}

// HF_TOKEN, HF_ENDPOINT and HF_HUB_CACHE from the environment reach the requests and the cache.
BOOST_AUTO_TEST_CASE(environment_configures_the_client) {
  FakeHub fake;
  test::TempDir cache, home;
  {
    test::ScopedEnv endpoint("HF_ENDPOINT", fake.hub.origin() + "/");
    test::ScopedEnv token("HF_TOKEN", "hf_env_token\n");
    test::ScopedEnv hub_cache("HF_HUB_CACHE", cache.path().string());
    test::ScopedEnv offline("HF_HUB_OFFLINE", "0");
    test::ScopedEnv transformers_offline("TRANSFORMERS_OFFLINE", std::nullopt);
    HubClient client;
    BOOST_TEST(client.options().endpoint == fake.hub.origin());
    BOOST_TEST(!client.options().offline);
    const fs::path config = client.download("org/tiny-model", "config.json", "step1000");
    BOOST_TEST(config == cache / "models--org--tiny-model" / "snapshots" / kStep1000 / "config.json");
    BOOST_TEST(fake.hub.log().back().authorization == "Bearer hf_env_token");
  }
  {
    test::ScopedEnv offline("HF_HUB_OFFLINE", "1");
    test::ScopedEnv hub_cache("HF_HUB_CACHE", std::nullopt);
    test::ScopedEnv legacy_cache("HUGGINGFACE_HUB_CACHE", std::nullopt);
    test::ScopedEnv token("HF_TOKEN", std::nullopt);
    test::ScopedEnv legacy_token("HUGGING_FACE_HUB_TOKEN", std::nullopt);
    test::ScopedEnv token_path("HF_TOKEN_PATH", std::nullopt);
    test::ScopedEnv hf_home("HF_HOME", home.path().string());
    test::write_file(home / "token", "hf_file_token\n");
    const auto options = HubOptions::from_environment();
    BOOST_TEST(options.offline);
    BOOST_TEST(options.cache_dir == home / "hub");
    BOOST_TEST(options.token == "hf_file_token");
    BOOST_TEST(options.endpoint == "https://huggingface.co");
  }
  test::ScopedEnv hub_cache("HF_HUB_CACHE", std::nullopt);
  test::ScopedEnv legacy_cache("HUGGINGFACE_HUB_CACHE", std::nullopt);
  test::ScopedEnv hf_home("HF_HOME", std::nullopt);
  test::ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
  BOOST_TEST(default_hub_cache_dir() == "/xdg/huggingface/hub");
}

// Python fnmatch semantics, as huggingface_hub's allow_patterns.
BOOST_AUTO_TEST_CASE(patterns_match_like_fnmatch) {
  BOOST_TEST(hub_pattern_match("*.safetensors", "model-00001-of-00002.safetensors"));
  BOOST_TEST(hub_pattern_match("*.safetensors", "sub/model.safetensors"));  // '*' crosses '/'
  BOOST_TEST(!hub_pattern_match("*.safetensors", "model.safetensors.index.json"));
  BOOST_TEST(hub_pattern_match("tokenizer*", "tokenizer_config.json"));
  BOOST_TEST(hub_pattern_match("vocab*", "vocab.json"));
  BOOST_TEST(!hub_pattern_match("config.json", "sub/config.json"));
  BOOST_TEST(hub_pattern_match("sub/", "sub/a/b.txt"));
  BOOST_TEST(!hub_pattern_match("sub/", "subway.txt"));
  BOOST_TEST(hub_pattern_match("file?.json", "file1.json"));
  BOOST_TEST(!hub_pattern_match("file?.json", "file.json"));
  BOOST_TEST(hub_pattern_match("[!a]*.txt", "b.txt"));
  BOOST_TEST(!hub_pattern_match("[!a]*.txt", "a.txt"));
  BOOST_TEST(hub_pattern_match("model-[0-9]*", "model-3.bin"));
  BOOST_TEST(hub_pattern_match("[abc", "[abc"));  // an unclosed '[' is literal
  BOOST_TEST(hub_pattern_match("*", ""));
  BOOST_TEST(!hub_pattern_match("?", ""));
}

BOOST_AUTO_TEST_SUITE_END()
