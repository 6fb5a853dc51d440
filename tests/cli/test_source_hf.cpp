// source.hf: local directories and Hub repos (from a pre-populated HF cache, offline).
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "cli_fixture.hpp"

using namespace biaslab::testing;
namespace fs = std::filesystem;

BOOST_AUTO_TEST_SUITE(source_hf)

BOOST_AUTO_TEST_CASE(local_directory_becomes_a_linked_model_artifact) {
  Workspace w;
  unsetenv("BIASLAB_PLUGIN_PATH");
  const fs::path fixture = env_path("BIASLAB_FIXTURES") / "gpt2";
  auto f = w.write("p.toml", "[pipeline]\nname = \"hf\"\n[nodes.model]\nplugin = \"source.hf\"\npath = \"" +
                                 fixture.string() + "\"\n");
  auto r = w.biaslab("run " + f.string());
  BOOST_TEST_INFO(r.err);
  BOOST_REQUIRE(r.code == 0);
  r = w.biaslab("results " + (w.dir / "run").string() + " --format csv");
  // The checkpoint bytes are those of model.safetensors (the fixture has no other weights).
  BOOST_TEST(r.out.find(",model,source.hf,model,model.checkpoint_bytes,overall," +
                        std::to_string(fs::file_size(fixture / "model.safetensors")) + ",") != std::string::npos);
  // The artifact links config, weights and tokenizer files, not the golden/ sub-folder.
  fs::path artifact;
  for (const auto& e : fs::recursive_directory_iterator(w.dir / "cache" / "objects"))
    if (e.path().filename() == "artifact") artifact = e.path();
  BOOST_REQUIRE(!artifact.empty());
  BOOST_TEST(fs::is_symlink(artifact / "model.safetensors"));
  BOOST_TEST(fs::exists(artifact / "tokenizer.json"));
  BOOST_TEST(!fs::exists(artifact / "golden"));
  auto info = nlohmann::json::parse(read_file(artifact / "artifact.json"));
  BOOST_TEST(info["path"].get<std::string>() == fixture.string());
}

BOOST_AUTO_TEST_CASE(hub_revision_from_offline_cache) {
  Workspace w;
  unsetenv("BIASLAB_PLUGIN_PATH");
  // An HF cache as huggingface_hub lays it out: refs/<revision> -> commit, snapshot symlinks.
  const std::string commit = "0123456789abcdef0123456789abcdef01234567";
  fs::path repo = w.dir / "hf" / "models--EleutherAI--pythia-tiny";
  fs::create_directories(repo / "refs");
  fs::create_directories(repo / "blobs");
  fs::create_directories(repo / "snapshots" / commit);
  std::ofstream(repo / "refs" / "step1000") << commit;
  std::ofstream(repo / "blobs" / "cfgblob") << R"({"model_type": "gpt_neox"})";
  fs::create_symlink("../../blobs/cfgblob", repo / "snapshots" / commit / "config.json");
  auto f = w.write("p.toml", R"([pipeline]
name = "hub"
[grid]
step = [1000]
[nodes.model]
plugin = "source.hf"
repo = "EleutherAI/pythia-tiny"
revision = "step${step}"
)");
  auto r = w.biaslab("run " + f.string(), "HF_HUB_OFFLINE=1 HF_HUB_CACHE='" + (w.dir / "hf").string() + "'");
  BOOST_TEST_INFO(r.err);
  BOOST_REQUIRE(r.code == 0);
  fs::path artifact;
  for (const auto& e : fs::recursive_directory_iterator(w.dir / "cache" / "objects"))
    if (e.path().filename() == "artifact") artifact = e.path();
  auto info = nlohmann::json::parse(read_file(artifact / "artifact.json"));
  BOOST_TEST(info["commit"].get<std::string>() == commit);
  BOOST_TEST(info["revision"].get<std::string>() == "step1000");
  BOOST_TEST(read_file(artifact / "config.json") == R"({"model_type": "gpt_neox"})");

  // A revision missing from the offline cache fails the node (exit 1) with the Hub's message.
  r = w.biaslab("run --set grid.step=[2000] " + f.string(), "HF_HUB_OFFLINE=1 HF_HUB_CACHE='" + (w.dir / "hf").string() + "'");
  BOOST_TEST_INFO(r.err);
  BOOST_TEST(r.code == 1);
  BOOST_TEST(r.err.find("revision 'step2000' of EleutherAI/pythia-tiny is not in the Hugging Face cache") != std::string::npos,
             r.err);
  // The grid changed, so the run directory's previous results were moved aside, not mixed in.
  BOOST_TEST(fs::exists(w.dir / "run" / "history"));
}

BOOST_AUTO_TEST_CASE(path_and_repo_are_exclusive) {
  Workspace w;
  unsetenv("BIASLAB_PLUGIN_PATH");
  auto f = w.write("p.toml", "[pipeline]\nname = \"x\"\n[nodes.model]\nplugin = \"source.hf\"\n");
  auto r = w.biaslab("run " + f.string());
  BOOST_TEST(r.code == 2);  // found while planning (the cache key needs to know which model)
  BOOST_TEST(r.err.find("node 'model' (source.hf): give exactly one of 'path' (a local model directory) or 'repo' (a Hub id)") !=
             std::string::npos, r.err);
}

// Two identical source nodes share one task, and a renamed node reuses the cached entry: each
// reports rows under its own name; provenance records code hashes and the folder fingerprint.
BOOST_AUTO_TEST_CASE(shared_and_renamed_nodes_report_their_own_names) {
  Workspace w;
  unsetenv("BIASLAB_PLUGIN_PATH");
  const fs::path fixture = env_path("BIASLAB_FIXTURES") / "gpt2";
  const std::string bytes = std::to_string(fs::file_size(fixture / "model.safetensors"));
  auto node = [&](const std::string& name) {
    return "[nodes." + name + "]\nplugin = \"source.hf\"\npath = \"" + fixture.string() + "\"\n";
  };
  auto f = w.write("p.toml", "[pipeline]\nname = \"hf\"\n" + node("a") + node("b"));
  auto r = w.biaslab("run " + f.string());
  BOOST_TEST_INFO(r.err);
  BOOST_REQUIRE(r.code == 0);
  r = w.biaslab("results " + (w.dir / "run").string() + " --format csv");
  BOOST_TEST(r.out.find(",a,source.hf,a,model.checkpoint_bytes,overall," + bytes + ",") != std::string::npos, r.out);
  BOOST_TEST(r.out.find(",b,source.hf,b,model.checkpoint_bytes,overall," + bytes + ",") != std::string::npos, r.out);
  auto prov = nlohmann::json::parse(read_file(w.dir / "run" / "provenance.json"));
  BOOST_TEST(prov["plugins"][0]["name"] == "source.hf");
  BOOST_TEST(prov["plugins"][0]["code_hash"].get<std::string>().size() == 64u);
  const auto& weights = prov["key_inputs"].begin()->at("b").at("weights");
  BOOST_TEST(weights.at("model.safetensors").at("bytes").get<std::uint64_t>() == fs::file_size(fixture / "model.safetensors"));

  f = w.write("p.toml", "[pipeline]\nname = \"hf\"\n" + node("base"));
  r = w.biaslab("run " + f.string());
  BOOST_TEST_INFO(r.err);
  BOOST_REQUIRE(r.code == 0);
  r = w.biaslab("results " + (w.dir / "run").string() + " --format csv");
  BOOST_TEST(r.out.find(",base,source.hf,base,model.checkpoint_bytes,overall," + bytes + ",") != std::string::npos, r.out);
  BOOST_TEST(r.out.find(",source.hf,a,") == std::string::npos, r.out);
}

BOOST_AUTO_TEST_SUITE_END()
