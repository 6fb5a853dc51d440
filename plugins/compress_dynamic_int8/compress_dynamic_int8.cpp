// compress.dynamic_int8: PyTorch dynamic quantization (quantize_dynamic(model, {nn.Linear},
// dtype=torch.qint8)) of the selected linear layers: int8 weights (per tensor, or per output
// channel), activations quantized from their runtime range -- by default one range per sequence,
// what quantize_dynamic computes with one sentence per forward pass -- int32 accumulation, through
// the quantized engine's own kernels (ops::DynamicInt8Linear).
#include <algorithm>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "biaslab/plugin.hpp"
#include "biaslab/runtime/ops/dynamic_int8_linear.hpp"
#include "compress_support.hpp"

namespace {

using nlohmann::json;
namespace ops = biaslab::runtime::ops;
constexpr const char* kVersion = "1.1.0";  // 1.1: activation_range

std::string activation_range_phrase(const json& range) {
  const auto name = range.get<std::string>();
  if (name == "per_sequence") return "per sequence (real tokens, head included)";
  if (name == "per_token") return "per token";
  return "per call (padded batch)";
}

class DynamicInt8 final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    const auto& p = ctx.params();
    const auto engine = p.at("engine").get<std::string>();
    const auto available = ops::available_quantized_engines();
    if (std::find(available.begin(), available.end(), engine) == available.end())
      throw std::invalid_argument("compress.dynamic_int8: quantized engine '" + engine +
                                  "' is not available in this libtorch build (available: " +
                                  biaslab::compressors::join(available) + ")");
    // Checked before the model is loaded so a bad combination fails fast.
    const json defaults = {{"scheme", p.at("scheme")},
                           {"bits", p.at("bits")},
                           {"reduce_range", p.at("reduce_range")},
                           {"activation_range", p.at("activation_range")},
                           {"engine", engine}};
    (void)ops::DynamicInt8Options::from_json(defaults);

    biaslab::compressors::CompressionRun run(ctx, "compress.dynamic_int8");
    json layers = json::object();
    for (auto* slot : run.selected()) {
      const auto settings = run.settings_for(slot->name(), defaults);
      ops::DynamicInt8Options options;
      try {
        options = ops::DynamicInt8Options::from_json(settings);
      } catch (const std::exception& e) {
        throw std::invalid_argument("compress.dynamic_int8: layer '" + slot->name() + "': " + e.what());
      }
      const auto& kernel = *slot->kernel();
      if (kernel.format() != "float")
        ctx.log().warn("compress.dynamic_int8: layer '{}' is already '{}'; quantizing its effective weight",
                       slot->name(), kernel.format());
      slot->set_kernel(ops::DynamicInt8Linear::quantize(kernel.weight(), kernel.bias(), options));
      layers[slot->name()] = {{"scheme", ops::to_string(options.scheme)},
                              {"reduce_range", options.reduce_range},
                              {"activation_range", ops::to_string(options.activation_range)}};
    }
    run.finish(kVersion, {{"name", "dynamic_int8"},
                          {"weights", "qint8 symmetric"},
                          {"activations", "quint8, one range " + activation_range_phrase(p.at("activation_range"))},
                          {"engine", engine},
                          {"layers", layers}});
  }
};

const std::string kSchema = R"J({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "scheme": {"type": "string", "enum": ["per_tensor", "per_channel"], "default": "per_tensor",
      "description": "weight scales: per_tensor (torch default_dynamic_qconfig) or per_channel (per_channel_dynamic_qconfig)"},
    "engine": {"type": "string", "default": "onednn",
      "description": "quantized engine running the int8 GEMM: onednn, qnnpack (fbgemm where libtorch has it); fixed at prepacking"},
    "reduce_range": {"type": "boolean", "default": true,
      "description": "7-bit activation range on x86 engines, as torch's dynamic Linear module passes (QNNPACK ignores it)"},
    "activation_range": {"type": "string", "enum": ["per_sequence", "per_token", "per_batch"], "default": "per_sequence",
      "description": "rows sharing one activation range: per_sequence = each sequence's real tokens in every layer, head included (= quantize_dynamic with one sentence per forward pass, as bias-bench and the seed study; batch-invariant); per_token = each token (batch-invariant, exact integer arithmetic, slower); per_batch = the whole padded batch per call (biaslab < 0.2 behaviour; results depend on batch size)"},
    "bits": {"type": "integer", "default": 8, "description": "must be 8: weights and activations are int8 (use compress.rtn / compress.gptq for 2-4 bit weights)"},)J" +
    biaslab::compressors::selection_schema(R"J(
      "scheme": {"type": "string", "enum": ["per_tensor", "per_channel"]},
      "reduce_range": {"type": "boolean"},
      "activation_range": {"type": "string", "enum": ["per_sequence", "per_token", "per_batch"]},
      "bits": {"type": "integer"})J",
      /*output_head_default=*/true,
      "also quantize the output projection (embed_out / lm_head / MLM decoder); true = as torch's "
      "quantize_dynamic(model, {nn.Linear}), which converts every nn.Linear including the head (the seed "
      "study's setting); a tied head is untied, the input embeddings stay float") + R"J(
  }
})J";

const biaslab::InputPort kInputs[] = {{"model", "model", 1, 1, "model to quantize"}};

const biaslab::PluginDescriptor kDescriptor = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "compress.dynamic_int8",
    .version = kVersion,
    .kind = biaslab::PluginKind::transform,
    .summary = "dynamic int8 quantization of linear layers (torch quantize_dynamic semantics, real int8 kernels)",
    .params_schema = kSchema.c_str(),
    .inputs = kInputs,
    .num_inputs = 1,
    .output_type = "model",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new DynamicInt8); }};

}  // namespace

BIASLAB_PLUGIN(kDescriptor)
