// safetensors reader/writer: round trips of every dtype, and hostile files that must give a clear
// error (naming file and tensor) instead of a crash or a huge allocation.
#include <cstring>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "biaslab/runtime/checkpoint.hpp"
#include "biaslab/runtime/safetensors.hpp"
#include "test_util.hpp"

using namespace biaslab::runtime;
using biaslab::runtime::test::TempDir;

namespace {

// 8-byte little-endian length + header + data.
std::string raw_file(const std::string& header, const std::string& data, std::uint64_t claimed_len = 0) {
  std::uint64_t len = claimed_len ? claimed_len : header.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &len, 8);
  return out + header + data;
}

// The error message of opening `bytes` as a safetensors file ("" if it opened).
std::string open_error(const TempDir& dir, const std::string& bytes) {
  const auto path = dir / "hostile.safetensors";
  biaslab::runtime::test::write_file(path, bytes);
  try {
    SafetensorsFile f(path);
    for (const auto& n : f.names()) f.load(n);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(safetensors)

BOOST_AUTO_TEST_CASE(round_trip_all_dtypes_and_metadata) {
  TempDir dir;
  torch::manual_seed(7);
  std::map<std::string, torch::Tensor> tensors{
      {"f32", torch::randn({3, 5})},
      {"f16", torch::randn({7}).to(torch::kFloat16)},
      {"bf16", torch::randn({2, 3, 1}).to(torch::kBFloat16)},
      {"f64", torch::randn({2}, torch::kFloat64)},
      {"i8", torch::randint(-128, 127, {9}, torch::kInt8)},
      {"u8", torch::randint(0, 255, {4, 4}, torch::kUInt8)},
      {"i32", torch::randint(-1000, 1000, {5}, torch::kInt32)},
      {"i64", torch::randint(-100000, 100000, {3}, torch::kInt64)},
      {"bool", torch::randint(0, 2, {6}, torch::kInt64).to(torch::kBool)},
      {"scalar", torch::tensor(3.5f)},
      {"empty", torch::zeros({0, 4})},
      {"non_contiguous", torch::randn({4, 6}).t()}};
  const auto path = dir / "t.safetensors";
  write_safetensors(path, tensors, {{"format", "pt"}, {"note", "hello \"world\""}});
  SafetensorsFile f(path);
  BOOST_TEST(f.names().size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    auto back = f.load(name);
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(back.scalar_type() == t.scalar_type());
      BOOST_TEST(back.sizes() == t.sizes());
      BOOST_TEST(torch::equal(back, t.contiguous()));
    }
  }
  BOOST_TEST(f.entry("bf16").dtype_tag == "BF16");
  BOOST_TEST(f.metadata().at("note") == "hello \"world\"");
  BOOST_TEST(f.metadata().at("format") == "pt");
  // Header padded to a multiple of 8; no temporary files left behind.
  const auto bytes = biaslab::runtime::test::read_file(path);
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  BOOST_TEST(header_len % 8 == 0);
  BOOST_TEST(std::distance(std::filesystem::directory_iterator(dir.path()), {}) == 1);
}

BOOST_AUTO_TEST_CASE(reads_the_fixture_files) {
  // The HF fixture was written by an independent writer: F16 weights, sorted by size.
  SafetensorsFile f(biaslab::runtime::test::fixture("gpt_neox") / "model.safetensors");
  BOOST_TEST(f.metadata().at("format") == "pt");
  const auto& e = f.entry("gpt_neox.embed_in.weight");
  BOOST_TEST(e.dtype_tag == "F16");
  BOOST_TEST(e.shape == (std::vector<std::int64_t>{50304, 64}));
  auto t = f.load("gpt_neox.embed_in.weight");
  BOOST_TEST(t.scalar_type() == torch::kFloat16);
  BOOST_TEST(std::isfinite(t.to(torch::kFloat32).abs().max().item<float>()));
  SafetensorsFile llama(biaslab::runtime::test::fixture("llama") / "model.safetensors");
  BOOST_TEST(llama.entry("lm_head.weight").dtype == torch::kBFloat16);
}

BOOST_AUTO_TEST_CASE(hostile_headers_give_errors) {
  TempDir dir;
  const std::string data8(8, '\x01');
  // Valid baseline: one F32 [2] tensor.
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  BOOST_TEST(open_error(dir, raw_file(ok, data8)) == "");

  struct Case {
    const char* what;
    std::string bytes;
    std::vector<std::string> expect;  // substrings of the message
  };
  std::vector<Case> cases{
      {"empty file", "", {"truncated"}},
      {"short length", std::string("\x05\x00\x00", 3), {"truncated"}},
      {"length beyond file", raw_file(ok, data8, 1000), {"truncated", "header length 1000"}},
      {"length over limit", raw_file(ok, data8, 200'000'000), {"exceeds the limit"}},
      {"huge length", raw_file(ok, data8, ~0ull), {"exceeds the limit"}},
      {"malformed json", raw_file(R"({"a":{"dtype":"F32",)", data8), {"malformed JSON"}},
      {"not an object", raw_file(R"([1,2,3])", data8), {"not a JSON object"}},
      {"duplicate tensor",
       raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data8),
       {"'a' twice"}},
      {"unknown dtype", raw_file(R"({"w":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}})", data8), {"'w'", "F7"}},
      {"missing offsets", raw_file(R"({"w":{"dtype":"F32","shape":[2]}})", data8), {"'w'", "data_offsets"}},
      {"offset past end", raw_file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data8),
       {"'w'", "outside the data section"}},
      {"huge offsets", raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551608,18446744073709551615]}})", data8),
       {"'w'", "outside"}},
      {"begin after end", raw_file(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", data8), {"'w'", "begin > end"}},
      {"negative offset", raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", data8), {"'w'", "non-negative"}},
      {"size mismatch", raw_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data8),
       {"'w'", "does not match shape [3]"}},
      {"huge shape", raw_file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", data8),
       {"'w'", "overflows"}},
      {"huge shape no overflow",
       raw_file(R"({"w":{"dtype":"F64","shape":[1000000000000],"data_offsets":[0,8]}})", data8),
       {"'w'", "does not match"}},
      {"negative shape", raw_file(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data8), {"'w'", "non-negative"}},
      {"float shape", raw_file(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", data8), {"'w'"}},
      {"overlap",
       raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data8),
       {"overlap", "'a'", "'b'"}},
      {"bad metadata", raw_file(R"({"__metadata__":{"k":1}})", ""), {"__metadata__"}},
      {"truncated data", raw_file(ok, std::string(5, '\0')), {"'a'", "truncated"}},
  };
  for (const auto& c : cases) {
    const auto message = open_error(dir, c.bytes);
    BOOST_TEST_CONTEXT(c.what << ": " << message) {
      BOOST_TEST(!message.empty());
      BOOST_TEST(contains(message, "hostile.safetensors"));
      for (const auto& e : c.expect) BOOST_TEST(contains(message, e));
    }
  }
}

BOOST_AUTO_TEST_CASE(writer_rejects_what_it_cannot_store) {
  TempDir dir;
  BOOST_CHECK_THROW(write_safetensors(dir / "x.safetensors", {{"c", torch::zeros({2}, torch::kComplexFloat)}}),
                    std::runtime_error);
  BOOST_CHECK_THROW(write_safetensors(dir / "x.safetensors", {{"__metadata__", torch::zeros({2})}}), std::runtime_error);
  BOOST_TEST(!std::filesystem::exists(dir / "x.safetensors"));
}

BOOST_AUTO_TEST_CASE(sharded_checkpoint_via_index) {
  TempDir dir;
  torch::manual_seed(3);
  auto a = torch::randn({4, 2}), b = torch::randn({3}), c = torch::randn({2, 2}).to(torch::kBFloat16);
  write_safetensors(dir / "model-00001-of-00002.safetensors", {{"a", a}, {"b", b}});
  write_safetensors(dir / "model-00002-of-00002.safetensors", {{"c", c}});
  biaslab::runtime::test::write_file(dir / "model.safetensors.index.json", R"({"metadata": {"total_size": 52},
    "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
                   "c": "model-00002-of-00002.safetensors"}})");
  CheckpointReader reader(dir.path());
  BOOST_TEST(reader.names() == (std::vector<std::string>{"a", "b", "c"}));
  BOOST_TEST(torch::equal(reader.load("a"), a));
  BOOST_TEST(torch::equal(reader.load("c"), c));
  BOOST_TEST(reader.source("c").filename() == "model-00002-of-00002.safetensors");
  BOOST_TEST(reader.shape("a") == (std::vector<std::int64_t>{4, 2}));

  // An index naming a tensor its shard lacks, or escaping the directory, is an error.
  biaslab::runtime::test::write_file(dir / "model.safetensors.index.json",
                                     R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
                                         "c": "model-00002-of-00002.safetensors", "d": "model-00002-of-00002.safetensors"}})");
  try {
    CheckpointReader bad(dir.path());
    BOOST_FAIL("expected an error");
  } catch (const std::exception& e) {
    BOOST_TEST(contains(e.what(), "'d'"));
  }
  biaslab::runtime::test::write_file(dir / "model.safetensors.index.json", R"({"weight_map": {"a": "../x.safetensors"}})");
  BOOST_CHECK_THROW(CheckpointReader(dir.path()), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(sharded_pytorch_bin_via_index) {
  // The bert fixture's .bin split into two shards by name, as HF's sharded .bin checkpoints are.
  TempDir dir;
  const auto bin = biaslab::runtime::test::fixture("bert") / "pytorch_model.bin";
  std::filesystem::copy_file(bin, dir / "pytorch_model-00001-of-00001.bin");
  CheckpointReader single(biaslab::runtime::test::fixture("bert"), CheckpointFormat::pytorch);
  nlohmann::json index;
  for (const auto& n : single.names()) index["weight_map"][n] = "pytorch_model-00001-of-00001.bin";
  biaslab::runtime::test::write_file(dir / "pytorch_model.bin.index.json", index.dump());
  CheckpointReader sharded(dir.path());
  BOOST_TEST((sharded.format() == CheckpointFormat::pytorch));
  BOOST_TEST(sharded.names() == single.names());
  BOOST_TEST(torch::equal(sharded.load("bert.embeddings.word_embeddings.weight"),
                          single.load("bert.embeddings.word_embeddings.weight")));
  BOOST_TEST(single.dtype("cls.predictions.bias") == torch::kFloat32);
}

BOOST_AUTO_TEST_CASE(missing_weights_are_reported) {
  TempDir dir;
  try {
    CheckpointReader r(dir.path());
    BOOST_FAIL("expected an error");
  } catch (const std::exception& e) {
    BOOST_TEST(contains(e.what(), "has no weights"));
  }
  biaslab::runtime::test::write_file(dir / "pytorch_model.bin", "not a zip");
  try {
    CheckpointReader r(dir.path());
    BOOST_FAIL("expected an error");
  } catch (const std::exception& e) {
    BOOST_TEST(contains(e.what(), "pytorch_model.bin"));
  }
}

BOOST_AUTO_TEST_SUITE_END()
