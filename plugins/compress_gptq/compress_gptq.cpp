// compress.gptq: GPTQ (Frantar et al., 2022) weight-only quantization with calibration data.
//
// Procedure (sequential = "layer", the reference's --true-sequential): the selected layers are
// processed in module order in groups that read the same activations (q/k/v or a fused qkv,
// the attention output projection, gate/up or the MLP input projection, the MLP output
// projection). For each group the whole model runs forward over the calibration windows with a
// CalibrationRecorder on the not yet quantized layers of the current transformer block, so the
// group's Hessian H = 2 X X^T / n comes from inputs produced by every earlier layer already
// quantized; the group is then quantized with compress::gptq_quantize and the next pass sees its
// quantized outputs. sequential = "block": one pass per transformer block (the reference without
// --true-sequential); "none": one pass over the original model.
// Cost: passes x one forward over nsamples x seqlen tokens (layer: ~4 passes per block for
// GPT-NeoX / GPT-2 / BERT-style blocks, 4 for Llama), plus one in_features^2 Hessian per layer of
// the current block in memory.
#include <cmath>

#include <spdlog/spdlog.h>

#include "biaslab/plugin.hpp"
#include "biaslab/runtime/compress/gptq.hpp"
#include "compress_support.hpp"

namespace {

using nlohmann::json;
namespace rc = biaslab::runtime::compress;
namespace bc = biaslab::compressors;
constexpr const char* kVersion = "1.0.0";

class Gptq final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    const auto& p = ctx.params();
    json defaults = json::object();
    for (const char* key : {"bits", "group_size", "symmetric", "percdamp", "block_size", "act_order", "static_groups"})
      defaults[key] = p.at(key);
    rc::GptqConfig::from_json(defaults).validate();

    bc::CompressionRun run(ctx, "compress.gptq");
    const auto data = bc::load_calibration_data(run);
    run.set_calibration_samples(static_cast<std::int64_t>(data.samples.size()));
    json layers = json::object();
    double total_loss = 0;
    rc::CalibrationOptions options;
    options.abs_max = false;
    options.sq_norm = false;
    options.hessian = true;
    const auto passes = bc::sequential_calibration(
        run, data, options, p.at("sequential").get<std::string>(),
        [&](const std::vector<biaslab::runtime::Linear*>& group, const rc::CalibrationRecorder& recorder) {
          for (auto* slot : group) {
            const auto settings = run.settings_for(slot->name(), defaults);
            rc::GptqConfig config;
            try {
              config = rc::GptqConfig::from_json(settings);
              config.validate();
            } catch (const std::exception& e) {
              throw std::invalid_argument("compress.gptq: layer '" + slot->name() + "': " + e.what());
            }
            auto result = rc::gptq_quantize(*slot->kernel(), recorder.at(slot->name()).hessian(), config, slot->name());
            if (!std::isfinite(result.loss))
              throw std::runtime_error("compress.gptq: layer '" + slot->name() + "': non-finite quantization loss");
            slot->set_kernel(result.kernel);
            run.record_layer_value("compress.gptq_loss", slot->name(), result.loss);
            total_loss += result.loss;
            layers[slot->name()] = settings;
            ctx.log().debug("compress.gptq: {} loss {:.6g}", slot->name(), result.loss);
          }
        });
    run.finish(kVersion, {{"name", "gptq"},
                          {"sequential", p.at("sequential")},
                          {"calibration_passes", passes},
                          {"calibration", data.source},
                          {"total_loss", total_loss},
                          {"layers", layers}});
  }
};

const std::string kSchema = R"J({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "bits": {"type": "integer", "enum": [2, 3, 4, 8], "default": 4, "description": "weight bits"},
    "group_size": {"type": "integer", "default": 128, "description": "input columns sharing a grid; -1: one grid per output row"},
    "symmetric": {"type": "boolean", "default": false, "description": "symmetric grid (reference --sym)"},
    "percdamp": {"type": "number", "exclusiveMinimum": 0, "default": 0.01, "description": "dampening: percdamp * mean(diag H) added to the diagonal"},
    "block_size": {"type": "integer", "minimum": 1, "default": 128, "description": "columns per lazy batch update"},
    "act_order": {"type": "boolean", "default": false, "description": "process columns by decreasing Hessian diagonal (reference --act-order)"},
    "static_groups": {"type": "boolean", "default": false, "description": "grids of the original column groups computed up front (reference --static-groups)"},
    "sequential": {"type": "string", "enum": ["layer", "block", "none"], "default": "layer",
      "description": "layer: one calibration pass per group of layers sharing an input (--true-sequential); block: one per transformer block; none: one pass over the original model"},)J" +
    bc::calibration_schema() + "," +
    bc::selection_schema(R"J(
      "bits": {"type": "integer", "enum": [2, 3, 4, 8]},
      "group_size": {"type": "integer"},
      "symmetric": {"type": "boolean"},
      "percdamp": {"type": "number"},
      "block_size": {"type": "integer"},
      "act_order": {"type": "boolean"},
      "static_groups": {"type": "boolean"})J") + R"J(
  }
})J";

const biaslab::InputPort kInputs[] = {{"model", "model", 1, 1, "model to quantize"},
                                      {"calibration", "corpus", 0, 1, "calibration text (else calibration_data)"}};

const biaslab::PluginDescriptor kDescriptor = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "compress.gptq",
    .version = kVersion,
    .kind = biaslab::PluginKind::transform,
    .summary = "GPTQ weight-only quantization with calibration data (sequential, 2/3/4/8-bit)",
    .params_schema = kSchema.c_str(),
    .inputs = kInputs,
    .num_inputs = 2,
    .output_type = "model",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new Gptq); }};

}  // namespace

BIASLAB_PLUGIN(kDescriptor)
