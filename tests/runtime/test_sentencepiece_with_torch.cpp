// tokenizer.model files in a process that has libtorch loaded (the biaslab CLI, every plugin):
// libsentencepiece's embedded protobuf-lite and torch's libprotobuf must not meet (the shim in
// core/src/sentencepiece_shim). Expectations in data/tiny_spm/expected.json are libsentencepiece's
// own output, checked against the library by tests/tokenizers.
#include <boost/test/unit_test.hpp>
#include <torch/torch.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "biaslab/runtime/tokenizers/tokenizer.hpp"

namespace fs = std::filesystem;

namespace {

fs::path fixture_dir() {
  const char* source = std::getenv("BIASLAB_SOURCE_DIR");
  BOOST_REQUIRE_MESSAGE(source != nullptr, "BIASLAB_SOURCE_DIR is not set");
  return fs::path(source) / "tests" / "runtime" / "data" / "tiny_spm";
}

nlohmann::json expected() {
  std::ifstream in(fixture_dir() / "expected.json");
  BOOST_REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sentencepiece_with_torch)

BOOST_AUTO_TEST_CASE(tokenizer_model_loads_and_matches_libsentencepiece) {
  // Make sure torch (and its libprotobuf) is live in this process before the model is parsed.
  const auto probe = torch::ones({2, 2}).sum().item<float>();
  BOOST_REQUIRE_EQUAL(probe, 4.0F);

  const auto want = expected();
  const auto tokenizer = biaslab::runtime::load_tokenizer(fixture_dir());
  BOOST_CHECK_EQUAL(tokenizer->model_type(), "SentencePiece");
  BOOST_CHECK_EQUAL(tokenizer->vocab_size(), want["vocab_size"].get<std::size_t>());
  BOOST_CHECK(tokenizer->bos_id() == want["bos_id"].get<std::int64_t>());
  BOOST_CHECK(tokenizer->eos_id() == want["eos_id"].get<std::int64_t>());
  std::size_t pieces = 0;
  for (const auto& c : want["cases"]) {
    const auto text = c["text"].get<std::string>();
    const auto ids = c["ids"].get<std::vector<std::int64_t>>();
    const auto plain = tokenizer->encode(text, false);
    BOOST_CHECK_MESSAGE(plain.ids == ids, "ids differ for '" << text << "'");
    BOOST_CHECK(plain.tokens == c["pieces"].get<std::vector<std::string>>());
    BOOST_CHECK_EQUAL(tokenizer->decode(plain.ids), c["decoded"].get<std::string>());
    // Llama convention: BOS first when special tokens are requested.
    const auto special = tokenizer->encode(text, true);
    BOOST_REQUIRE_EQUAL(special.ids.size(), ids.size() + 1);
    BOOST_CHECK_EQUAL(special.ids.front(), want["bos_id"].get<std::int64_t>());
    pieces += ids.size();
  }
  BOOST_CHECK_GT(pieces, 40u);
}

namespace {

struct CommandResult {
  int status = -1;
  std::string output;
};

CommandResult run_shell(const std::string& command) {
  CommandResult result;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  BOOST_REQUIRE(pipe != nullptr);
  std::array<char, 4096> buffer{};
  while (const auto n = std::fread(buffer.data(), 1, buffer.size(), pipe.get())) result.output.append(buffer.data(), n);
  result.status = pclose(pipe.release());
  return result;
}

}  // namespace

BOOST_AUTO_TEST_CASE(cli_tokenizes_with_a_tokenizer_model) {
  const char* cli = std::getenv("BIASLAB_CLI");
  BOOST_REQUIRE_MESSAGE(cli != nullptr, "BIASLAB_CLI is not set");
  const auto want = expected();
  const auto input = fs::temp_directory_path() / ("biaslab_spm_cli_" + std::to_string(::getpid()) + ".txt");
  std::ofstream(input) << want["cases"][0]["text"].get<std::string>() << "\n";
  const std::string command = std::string("'") + cli + "' tokenize --tokenizer '" +
                              (fixture_dir() / "tokenizer.model").string() + "' < '" + input.string() + "' 2>&1";
  const auto ok = run_shell(command);
  // Without its support library the command fails with a message saying what is missing.
  const auto missing = run_shell("BIASLAB_SENTENCEPIECE_SHIM=/nonexistent/libbiaslab_sentencepiece.so " + command);
  fs::remove(input);
  BOOST_REQUIRE_MESSAGE(ok.status == 0, "biaslab tokenize failed: " << ok.output);
  const auto line = nlohmann::json::parse(ok.output.substr(0, ok.output.find('\n')));
  BOOST_CHECK(line["ids"] == want["cases"][0]["ids"]);
  BOOST_CHECK(WIFEXITED(missing.status) && WEXITSTATUS(missing.status) == 2);
  BOOST_CHECK_MESSAGE(missing.output.find("libbiaslab_sentencepiece.so was not found") != std::string::npos,
                      missing.output);
}

BOOST_AUTO_TEST_SUITE_END()
