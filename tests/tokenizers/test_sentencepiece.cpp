// tokenizer.model support: a tiny SentencePiece model is trained here (nothing downloaded) and
// load_tokenizer must give exactly what SentencePieceProcessor gives, plus Llama-style BOS.
#include <boost/test/unit_test.hpp>

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <filesystem>
#include <fstream>
#include <cstdlib>
#include <random>

#include <nlohmann/json.hpp>

#include "biaslab/runtime/tokenizers/tokenizer.hpp"

namespace fs = std::filesystem;
using biaslab::runtime::load_tokenizer;

namespace {

const std::vector<std::string> kCorpus = {
    "The nurse said that she would be late for her shift.",
    "The engineer fixed the machine before the deadline.",
    "People from that country are often described unfairly.",
    "Il a dit que la m\xC3\xA9" "decin \xC3\xA9tait tr\xC3\xA8s comp\xC3\xA9tente.",
    "A quick brown fox jumps over the lazy dog, twice!",
    "Numbers like 12345 and 3.14 appear in text too.",
};

struct TrainedModel {
  fs::path dir;
  TrainedModel(const std::string& model_type, const std::string& name) {
    dir = fs::temp_directory_path() / ("biaslab_spm_" + name + "_" + std::to_string(std::random_device{}()));
    fs::create_directories(dir);
    const fs::path corpus = dir / "corpus.txt";
    {
      std::ofstream out(corpus);
      for (int repeat = 0; repeat < 20; ++repeat) {
        for (const auto& line : kCorpus) out << line << "\n";
      }
    }
    const std::string args = "--input=" + corpus.string() + " --model_prefix=" + (dir / "tokenizer").string() +
                             " --model_type=" + model_type +
                             " --vocab_size=120 --hard_vocab_limit=false --character_coverage=1.0"
                             " --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 --byte_fallback=false --minloglevel=2";
    const auto status = sentencepiece::SentencePieceTrainer::Train(args);
    BOOST_REQUIRE_MESSAGE(status.ok(), "training failed: " << status.ToString());
    fs::remove(dir / "tokenizer.vocab");
    fs::remove(corpus);
  }
  ~TrainedModel() { fs::remove_all(dir); }
};

const std::vector<std::string> kProbes = {
    "The nurse said that she would be late.",
    "  leading and   inner spaces ",
    "Il a dit que la m\xC3\xA9" "decin \xC3\xA9tait comp\xC3\xA9tente.",
    "unseen characters: \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x81 \xCE\xB1\xCE\xB2",
    "",
    "12345 3.14",
};

void check_against_processor(const std::string& model_type) {
  TrainedModel model(model_type, model_type);
  sentencepiece::SentencePieceProcessor processor;
  BOOST_REQUIRE(processor.Load((model.dir / "tokenizer.model").string()).ok());
  const auto tokenizer = load_tokenizer(model.dir);
  BOOST_CHECK_EQUAL(tokenizer->model_type(), "SentencePiece");
  BOOST_CHECK_EQUAL(tokenizer->vocab_size(), static_cast<std::size_t>(processor.GetPieceSize()));
  BOOST_CHECK(tokenizer->bos_id() == 1 && tokenizer->eos_id() == 2 && tokenizer->unk_id() == 0);
  BOOST_CHECK(!tokenizer->pad_id().has_value());
  std::size_t total_pieces = 0;
  for (const auto& text : kProbes) {
    std::vector<int> expected;
    std::vector<std::string> expected_pieces;
    BOOST_REQUIRE(processor.Encode(text, &expected).ok());
    BOOST_REQUIRE(processor.Encode(text, &expected_pieces).ok());
    total_pieces += expected.size();
    const auto plain = tokenizer->encode(text, false);
    BOOST_CHECK(plain.ids == std::vector<std::int64_t>(expected.begin(), expected.end()));
    BOOST_CHECK(plain.tokens == expected_pieces);
    const auto special = tokenizer->encode(text, true);
    BOOST_REQUIRE_EQUAL(special.ids.size(), expected.size() + 1);
    BOOST_CHECK_EQUAL(special.ids.front(), 1);
    BOOST_CHECK_EQUAL(special.special_tokens_mask.front(), 1);
    std::string expected_text;
    BOOST_REQUIRE(processor.Decode(expected, &expected_text).ok());
    BOOST_CHECK_EQUAL(tokenizer->decode(plain.ids), expected_text);
    BOOST_CHECK_EQUAL(tokenizer->decode(special.ids, true), expected_text);
    for (std::size_t i = 0; i < plain.ids.size(); ++i) {
      // Unknown characters keep their surface text as piece but map to <unk>.
      const std::string piece = plain.ids[i] == 0 ? "<unk>" : expected_pieces[i];
      BOOST_CHECK(tokenizer->id_to_token(plain.ids[i]) == piece);
      BOOST_CHECK_LE(plain.offsets[i].second, text.size());
    }
  }
  BOOST_CHECK_GT(total_pieces, 20u);
  BOOST_CHECK(tokenizer->token_to_id("<s>") == 1);
  BOOST_CHECK(!tokenizer->token_to_id("no-such-piece-xyz").has_value());
  BOOST_CHECK(!tokenizer->id_to_token(100000).has_value());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sentencepiece_models)

BOOST_AUTO_TEST_CASE(bpe_model_matches_processor) { check_against_processor("bpe"); }

BOOST_AUTO_TEST_CASE(unigram_model_matches_processor) { check_against_processor("unigram"); }

BOOST_AUTO_TEST_CASE(tokenizer_config_controls_bos_and_eos) {
  TrainedModel model("bpe", "config");
  std::ofstream(model.dir / "tokenizer_config.json") << R"({"add_bos_token": false, "add_eos_token": true})";
  const auto tokenizer = load_tokenizer(model.dir / "tokenizer.model");
  const auto plain = tokenizer->encode("The nurse", false);
  const auto special = tokenizer->encode("The nurse", true);
  BOOST_REQUIRE_EQUAL(special.ids.size(), plain.ids.size() + 1);
  BOOST_CHECK_EQUAL(special.ids.back(), 2);
  BOOST_CHECK(std::equal(plain.ids.begin(), plain.ids.end(), special.ids.begin()));
  // Piece offsets cover the original text (no normalization changes for this input).
  std::string covered;
  for (const auto& [start, end] : plain.offsets) covered += std::string("The nurse").substr(start, end - start);
  BOOST_CHECK_EQUAL(covered, "The nurse");
}

// tests/runtime/data/tiny_spm holds a committed tokenizer.model with the ids libsentencepiece gives
// for it (expected.json); tests/runtime checks them in a process with torch loaded. Here the
// expectations themselves are checked against libsentencepiece, and load_tokenizer against both.
BOOST_AUTO_TEST_CASE(committed_fixture_expectations_are_libsentencepiece_output) {
  const char* source = std::getenv("BIASLAB_SOURCE_DIR");
  BOOST_REQUIRE(source != nullptr);
  const fs::path dir = fs::path(source) / "tests" / "runtime" / "data" / "tiny_spm";
  std::ifstream in(dir / "expected.json");
  BOOST_REQUIRE(in.good());
  const auto want = nlohmann::json::parse(in);
  sentencepiece::SentencePieceProcessor processor;
  BOOST_REQUIRE(processor.Load((dir / "tokenizer.model").string()).ok());
  BOOST_CHECK_EQUAL(processor.GetPieceSize(), want["vocab_size"].get<int>());
  BOOST_CHECK_EQUAL(processor.bos_id(), want["bos_id"].get<int>());
  const auto tokenizer = load_tokenizer(dir);
  BOOST_REQUIRE_EQUAL(want["cases"].size(), 6u);
  for (const auto& c : want["cases"]) {
    const auto text = c["text"].get<std::string>();
    std::vector<int> ids;
    std::vector<std::string> pieces;
    BOOST_REQUIRE(processor.Encode(text, &ids).ok());
    BOOST_REQUIRE(processor.Encode(text, &pieces).ok());
    std::string decoded;
    BOOST_REQUIRE(processor.Decode(ids, &decoded).ok());
    BOOST_CHECK(c["ids"].get<std::vector<int>>() == ids);
    BOOST_CHECK(c["pieces"].get<std::vector<std::string>>() == pieces);
    BOOST_CHECK_EQUAL(c["decoded"].get<std::string>(), decoded);
    BOOST_CHECK(tokenizer->encode(text, false).ids == std::vector<std::int64_t>(ids.begin(), ids.end()));
  }
}

BOOST_AUTO_TEST_SUITE_END()
