// Linear slots and kernels: FloatLinear math, the format registry, observers, and models whose
// kernels were swapped (compressed, untied head) surviving save_pretrained -> load_model.
#include <boost/test/unit_test.hpp>

#include "biaslab/runtime/linear.hpp"
#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/safetensors.hpp"
#include "test_util.hpp"

using namespace biaslab::runtime;
namespace t = biaslab::runtime::test;

namespace {

// A minimal compressed kernel (per-row absmax int8), standing in for the compressors' formats.
class RowInt8Kernel final : public LinearKernel {
 public:
  RowInt8Kernel(torch::Tensor q, torch::Tensor scales, std::optional<torch::Tensor> bias)
      : q_(std::move(q)), scales_(std::move(scales)), bias_(std::move(bias)) {}
  static std::shared_ptr<RowInt8Kernel> quantize(const LinearKernel& from) {
    auto w = from.weight();
    auto scales = w.abs().amax(1).clamp_min(1e-8) / 127.0;
    auto q = torch::round(w / scales.unsqueeze(1)).clamp(-127, 127).to(torch::kInt8);
    return std::make_shared<RowInt8Kernel>(q, scales, from.bias());
  }
  torch::Tensor forward(const torch::Tensor& x) const override {
    auto w = weight().to(x.device());
    return bias_ ? torch::linear(x.to(torch::kFloat32), w, bias_->to(torch::kFloat32)).to(x.scalar_type())
                 : torch::linear(x.to(torch::kFloat32), w).to(x.scalar_type());
  }
  std::int64_t in_features() const override { return q_.size(1); }
  std::int64_t out_features() const override { return q_.size(0); }
  std::string format() const override { return "test_row_int8"; }
  torch::Tensor weight() const override { return q_.to(torch::kFloat32) * scales_.unsqueeze(1); }
  std::optional<torch::Tensor> bias() const override { return bias_; }
  std::int64_t storage_bytes() const override {
    return q_.numel() + scales_.numel() * 4 + (bias_ ? bias_->numel() * static_cast<std::int64_t>(bias_->element_size()) : 0);
  }
  void serialize(std::map<std::string, torch::Tensor>& tensors, nlohmann::json& meta) const override {
    tensors["qweight"] = q_;
    tensors["scales"] = scales_;
    if (bias_) tensors["bias"] = *bias_;
    meta = {{"bits", 8}, {"scheme", "row_absmax"}};
  }
  void to(const torch::Device& device) override {
    q_ = q_.to(device);
    scales_ = scales_.to(device);
    if (bias_) bias_ = bias_->to(device);
  }

 private:
  torch::Tensor q_, scales_;
  std::optional<torch::Tensor> bias_;
};

void register_row_int8() {
  register_linear_format("test_row_int8", [](const std::map<std::string, torch::Tensor>& tensors,
                                             const nlohmann::json& meta) -> std::shared_ptr<LinearKernel> {
    if (meta.value("bits", 0) != 8) throw std::runtime_error("test_row_int8: bits must be 8");
    std::optional<torch::Tensor> bias;
    if (tensors.count("bias")) bias = tensors.at("bias");
    return std::make_shared<RowInt8Kernel>(tensors.at("qweight"), tensors.at("scales"), bias);
  });
}

nlohmann::json read_json(const std::filesystem::path& p) { return nlohmann::json::parse(t::read_file(p)); }

}  // namespace

BOOST_AUTO_TEST_SUITE(linear)

BOOST_AUTO_TEST_CASE(float_linear_math) {
  torch::manual_seed(11);
  auto w = torch::randn({5, 3}), b = torch::randn({5}), x = torch::randn({2, 4, 3});
  FloatLinear k(w, b);
  BOOST_TEST(k.in_features() == 3);
  BOOST_TEST(k.out_features() == 5);
  BOOST_TEST(k.format() == "float");
  // y = x W^T + b, checked against an explicit matmul.
  auto expected = torch::matmul(x, w.t()) + b;
  BOOST_TEST(t::max_abs_diff(k.forward(x), expected) < 1e-6);
  BOOST_TEST(k.storage_bytes() == (15 + 5) * 4);
  // weight() is a float32 copy: writing to it leaves the kernel alone.
  auto copy = k.weight();
  copy.zero_();
  BOOST_TEST(torch::equal(k.raw_weight(), w));
  // A bfloat16 kernel computes in bfloat16 and returns the input dtype.
  FloatLinear half(w.to(torch::kBFloat16), std::nullopt);
  auto y = half.forward(x);
  BOOST_TEST(y.scalar_type() == torch::kFloat32);
  BOOST_TEST(half.storage_bytes() == 15 * 2);
  BOOST_TEST(t::max_abs_diff(y, torch::matmul(x, w.t())) < 0.1);
  std::map<std::string, torch::Tensor> tensors;
  nlohmann::json meta;
  k.serialize(tensors, meta);
  BOOST_TEST(tensors.size() == 2u);
  BOOST_TEST(torch::equal(tensors.at("weight"), w));
  BOOST_CHECK_THROW(FloatLinear(torch::randn({3}), std::nullopt), std::invalid_argument);
  BOOST_CHECK_THROW(FloatLinear(w, torch::randn({4})), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(format_registry) {
  auto w = torch::randn({2, 2});
  auto k = load_linear_kernel("float", {{"weight", w}}, nlohmann::json::object());
  BOOST_TEST(k->format() == "float");
  BOOST_TEST(!k->bias().has_value());
  BOOST_CHECK_THROW(load_linear_kernel("float", {{"weight", w}, {"qweight", w}}, {}), std::runtime_error);
  try {
    load_linear_kernel("no_such_format", {}, {});
    BOOST_FAIL("expected an error");
  } catch (const std::exception& e) {
    BOOST_TEST(std::string(e.what()).find("no_such_format") != std::string::npos);
    BOOST_TEST(std::string(e.what()).find("float") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(slot_observer_and_kernel_swap) {
  auto model = load_model(t::fixture("gpt_neox"));
  std::vector<std::string> seen;
  std::int64_t rows = 0;
  for (auto* l : model->linear_layers(true)) {
    l->set_observer([&](const std::string& name, const torch::Tensor& x) {
      seen.push_back(name);
      rows += x.numel() / x.size(-1);
    });
  }
  model->forward(torch::tensor({{12092, 1533, 15}}, torch::kLong));
  BOOST_TEST(seen.size() == 9u);  // 4 per layer x 2 + embed_out
  BOOST_TEST(seen.front() == "gpt_neox.layers.0.attention.query_key_value");
  BOOST_TEST(seen.back() == "embed_out");
  BOOST_TEST(rows == 9 * 3);
  for (auto* l : model->linear_layers(true)) l->set_observer({});
  auto& slot = model->linear("gpt_neox.layers.0.attention.dense");
  BOOST_CHECK_THROW(slot.set_kernel(std::make_shared<FloatLinear>(torch::zeros({64, 32}), std::nullopt)),
                    std::invalid_argument);
  BOOST_CHECK_THROW(slot.set_kernel(nullptr), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(compressed_kernels_survive_save_and_load) {
  register_row_int8();
  auto model = load_model(t::fixture("gpt_neox"));
  const auto ids = torch::tensor({{12092, 1533, 15, 3726, 1925}}, torch::kLong);
  const auto dense_logits = model->forward(ids);
  const auto params = model->parameter_count();
  const auto bytes = model->storage_bytes();
  const std::string name = "gpt_neox.layers.0.mlp.dense_h_to_4h";
  auto& slot = model->linear(name);
  slot.set_kernel(RowInt8Kernel::quantize(*slot.kernel()));
  const auto q_logits = model->forward(ids);
  const double change = t::max_abs_diff(q_logits, dense_logits);
  BOOST_TEST(change > 0.0);    // the kernel is really used
  BOOST_TEST(change < 0.1);    // and is a close approximation
  BOOST_TEST(model->parameter_count() == params);
  // fp32 weight 256x64 (4 B each) replaced by int8 + 256 float32 scales.
  BOOST_TEST(model->storage_bytes() == bytes - 256 * 64 * 4 + 256 * 64 + 256 * 4);

  t::TempDir dir;
  model->save_pretrained(dir.path());
  const auto config = read_json(dir / "config.json");
  BOOST_REQUIRE(config.contains("biaslab_quantization"));
  const auto& layer = config["biaslab_quantization"]["layers"][name];
  BOOST_TEST(layer["format"] == "test_row_int8");
  BOOST_TEST(layer["meta"]["bits"] == 8);
  SafetensorsFile file(dir / "model.safetensors");
  BOOST_TEST(file.contains(name + ".qweight"));
  BOOST_TEST(file.entry(name + ".qweight").dtype_tag == "I8");
  BOOST_TEST(file.contains(name + ".scales"));
  BOOST_TEST(!file.contains(name + ".weight"));
  BOOST_TEST(nlohmann::json::parse(file.metadata().at("biaslab_quantization")) == config["biaslab_quantization"]);

  auto again = load_model(dir.path());
  BOOST_TEST(again->linear(name).kernel()->format() == "test_row_int8");
  BOOST_TEST(torch::equal(again->forward(ids), q_logits));
  BOOST_TEST(again->storage_bytes() == model->storage_bytes());

  // Back to a float kernel: the quantization entry disappears from the saved config.
  again->linear(name).set_kernel(std::make_shared<FloatLinear>(again->linear(name).kernel()->weight(),
                                                               again->linear(name).kernel()->bias()));
  t::TempDir dir2;
  again->save_pretrained(dir2.path());
  BOOST_TEST(!read_json(dir2 / "config.json").contains("biaslab_quantization"));
  BOOST_TEST(t::max_abs_diff(load_model(dir2.path())->forward(ids), q_logits) < 1e-5);
}

BOOST_AUTO_TEST_CASE(untied_head_is_saved_untied) {
  auto model = load_model(t::fixture("gpt2"));
  const auto ids = torch::tensor({{15496, 995, 11}}, torch::kLong);
  auto& head = model->linear("lm_head");
  // A pruned copy of the tied head: the tie is broken, so it must be stored on its own.
  auto w = head.kernel()->weight();
  w.masked_fill_(w.abs() < 0.05, 0.0);
  head.set_kernel(std::make_shared<FloatLinear>(w, std::nullopt));
  const auto logits = model->forward(ids);
  t::TempDir dir;
  model->save_pretrained(dir.path());
  BOOST_TEST(read_json(dir / "config.json")["tie_word_embeddings"] == false);
  SafetensorsFile file(dir / "model.safetensors");
  BOOST_TEST(file.contains("lm_head.weight"));
  auto again = load_model(dir.path());
  BOOST_TEST(torch::equal(again->forward(ids), logits));
  BOOST_TEST(again->parameter_count() == model->parameter_count());

  // A float kernel that lost its bias is stored with a zero bias (what it computes).
  auto bert = load_model(t::fixture("bert"));
  auto& dense = bert->linear("bert.encoder.layer.0.intermediate.dense");
  dense.set_kernel(std::make_shared<FloatLinear>(dense.kernel()->weight(), std::nullopt));
  const auto bert_ids = torch::tensor({{101, 7592, 2088, 102}}, torch::kLong);
  const auto bert_logits = bert->forward(bert_ids);
  t::TempDir dir2;
  bert->save_pretrained(dir2.path());
  BOOST_TEST(torch::equal(load_model(dir2.path())->forward(bert_ids), bert_logits));
}

BOOST_AUTO_TEST_SUITE_END()
