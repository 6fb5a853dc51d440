// compress.rtn: round-to-nearest weight-only quantization of the selected linear layers to 2, 3, 4
// or 8 bits, one grid per output row and group of input columns (compress::quantize_rtn; the
// GPTQ reference's quantizer). Stored packed ("weight_only" format); activations stay float.
#include <spdlog/spdlog.h>

#include "biaslab/plugin.hpp"
#include "biaslab/runtime/compress/rtn.hpp"
#include "compress_support.hpp"

namespace {

using nlohmann::json;
namespace ops = biaslab::runtime::ops;
namespace rc = biaslab::runtime::compress;
constexpr const char* kVersion = "1.0.0";

class Rtn final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    const auto& p = ctx.params();
    const json defaults = {{"bits", p.at("bits")}, {"group_size", p.at("group_size")}, {"symmetric", p.at("symmetric")}};
    ops::WeightQuantConfig::from_json(defaults).validate();

    biaslab::compressors::CompressionRun run(ctx, "compress.rtn");
    json layers = json::object();
    for (auto* slot : run.selected()) {
      const auto settings = run.settings_for(slot->name(), defaults);
      ops::WeightQuantConfig config;
      try {
        config = ops::WeightQuantConfig::from_json(settings);
        config.validate();
      } catch (const std::exception& e) {
        throw std::invalid_argument("compress.rtn: layer '" + slot->name() + "': " + e.what());
      }
      slot->set_kernel(rc::quantize_rtn(*slot->kernel(), config));
      layers[slot->name()] = config.to_json();
    }
    run.finish(kVersion, {{"name", "rtn"}, {"layers", layers}});
  }
};

const std::string kSchema = R"J({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "bits": {"type": "integer", "enum": [2, 3, 4, 8], "default": 4, "description": "weight bits"},
    "group_size": {"type": "integer", "default": 128, "description": "input columns sharing a scale and zero point; -1: one group per output row"},
    "symmetric": {"type": "boolean", "default": false, "description": "symmetric grid (zero point mid-range) instead of min/max with a zero point"},)J" +
    biaslab::compressors::selection_schema(R"J(
      "bits": {"type": "integer", "enum": [2, 3, 4, 8]},
      "group_size": {"type": "integer"},
      "symmetric": {"type": "boolean"})J") + R"J(
  }
})J";

const biaslab::InputPort kInputs[] = {{"model", "model", 1, 1, "model to quantize"}};

const biaslab::PluginDescriptor kDescriptor = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "compress.rtn",
    .version = kVersion,
    .kind = biaslab::PluginKind::transform,
    .summary = "round-to-nearest weight-only quantization (2/3/4/8-bit, grouped, packed)",
    .params_schema = kSchema.c_str(),
    .inputs = kInputs,
    .num_inputs = 1,
    .output_type = "model",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new Rtn); }};

}  // namespace

BIASLAB_PLUGIN(kDescriptor)
