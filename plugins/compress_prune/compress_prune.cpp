// compress.prune: unstructured or N:M pruning of the selected linear layers.
//   magnitude         lowest |W| of each layer (unstructured over the layer) or per N:M group
//   magnitude_global  lowest |W| over all selected layers together (one threshold; unstructured)
//   nm                magnitude with an N:M pattern (nm, default "2:4")
//   wanda             lowest |W_ij| * ||X_j||_2 per output row, or per N:M group (Sun et al.)
//   sparsegpt         SparseGPT with Hessian-based error compensation (Frantar & Alistarh)
// Wanda and SparseGPT calibrate like the references: block by block (sequential = "block": the
// inputs of block i come from blocks < i already pruned); see compress_support.hpp for the other
// orders. Pruned layers stay dense float layers with exact zeros (format "float").
#include <cmath>

#include <spdlog/spdlog.h>

#include "biaslab/plugin.hpp"
#include "biaslab/runtime/compress/pruning.hpp"
#include "biaslab/runtime/compress/sparsegpt.hpp"
#include "compress_support.hpp"

namespace {

using nlohmann::json;
namespace rt = biaslab::runtime;
namespace rc = biaslab::runtime::compress;
namespace bc = biaslab::compressors;
constexpr const char* kVersion = "1.0.0";

// {"sparsity": s, "nm": "2:4" | ""} -> {"sparsity": s} or {"n": 2, "m": 4}
json target_json(const json& settings, const std::string& layer) {
  const auto nm = settings.value("nm", std::string());
  if (nm.empty()) return {{"sparsity", settings.at("sparsity")}};
  const auto colon = nm.find(':');
  std::size_t used_n = 0, used_m = 0;
  std::int64_t n = 0, m = 0;
  try {
    if (colon == std::string::npos) throw std::invalid_argument("no colon");
    n = std::stoll(nm.substr(0, colon), &used_n);
    m = std::stoll(nm.substr(colon + 1), &used_m);
  } catch (const std::exception&) {
    used_n = 0;
  }
  if (colon == std::string::npos || used_n != colon || used_m != nm.size() - colon - 1)
    throw std::invalid_argument("compress.prune: layer '" + layer + "': nm must look like '2:4' (kept:group), got '" + nm + "'");
  return {{"n", n}, {"m", m}};
}

rc::SparsityTarget target_for(const bc::CompressionRun& run, const rt::Linear& slot, const json& defaults) {
  const auto settings = run.settings_for(slot.name(), defaults);
  try {
    auto target = rc::SparsityTarget::from_json(target_json(settings, slot.name()));
    target.validate();
    if (target.pattern && slot.kernel()->in_features() % target.pattern->group != 0)
      throw std::invalid_argument(std::to_string(target.pattern->kept) + ":" + std::to_string(target.pattern->group) +
                                  " needs in_features (" + std::to_string(slot.kernel()->in_features()) +
                                  ") divisible by " + std::to_string(target.pattern->group));
    return target;
  } catch (const std::exception& e) {
    const std::string what = e.what();
    if (what.rfind("compress.prune", 0) == 0) throw;
    throw std::invalid_argument("compress.prune: layer '" + slot.name() + "': " + what);
  }
}

json describe(const rc::SparsityTarget& t) {
  if (t.pattern) return {{"n", t.pattern->kept}, {"m", t.pattern->group}};
  return {{"sparsity", t.ratio}};
}

class Prune final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    const auto& p = ctx.params();
    auto method = p.at("method").get<std::string>();
    json defaults = {{"sparsity", p.at("sparsity")}, {"nm", p.at("nm")}};
    // "nm": magnitude pruning with an N:M pattern (2:4 unless nm says otherwise).
    if (method == "nm") {
      method = "magnitude";
      if (defaults["nm"].get<std::string>().empty()) defaults["nm"] = "2:4";
    }
    (void)rc::SparsityTarget::from_json(target_json(defaults, "*")).validate();
    const bool calibrated = method == "wanda" || method == "sparsegpt";
    if (method == "magnitude_global") {
      if (!p.at("nm").get<std::string>().empty())
        throw std::invalid_argument("compress.prune: magnitude_global is unstructured (one threshold over all layers); "
                                    "use method = \"magnitude\" for N:M");
      if (!p.at("overrides").empty())
        throw std::invalid_argument("compress.prune: magnitude_global uses one threshold for all layers; per-layer "
                                    "overrides are not supported");
    }
    if (!calibrated && !ctx.inputs("calibration").empty())
      throw std::invalid_argument("compress.prune: method '" + method + "' uses no calibration data, but a corpus is connected to 'calibration'");

    bc::CompressionRun run(ctx, "compress.prune");
    json layers = json::object();
    json method_info = {{"name", p.at("method")}};

    if (method == "magnitude") {
      for (auto* slot : run.selected()) {
        const auto target = target_for(run, *slot, defaults);
        slot->set_kernel(rc::prune_magnitude(*slot->kernel(), target));
        layers[slot->name()] = describe(target);
      }
    } else if (method == "magnitude_global") {
      std::vector<const rt::LinearKernel*> kernels;
      for (auto* slot : run.selected()) kernels.push_back(slot->kernel().get());
      const auto ratio = p.at("sparsity").get<double>();
      auto pruned = rc::prune_magnitude_global(kernels, ratio);
      for (std::size_t i = 0; i < pruned.size(); ++i) run.selected()[i]->set_kernel(pruned[i]);
      method_info["sparsity"] = ratio;
    } else if (calibrated) {
      const auto data = bc::load_calibration_data(run);
      run.set_calibration_samples(static_cast<std::int64_t>(data.samples.size()));
      rc::CalibrationOptions options;
      options.abs_max = false;
      options.sq_norm = method == "wanda";
      options.hessian = method == "sparsegpt";
      const json sgpt = {{"block_size", p.at("block_size")}, {"percdamp", p.at("percdamp")}};
      const auto passes = bc::sequential_calibration(
          run, data, options, p.at("sequential").get<std::string>(),
          [&](const std::vector<rt::Linear*>& group, const rc::CalibrationRecorder& recorder) {
            for (auto* slot : group) {
              const auto target = target_for(run, *slot, defaults);
              const auto& stats = recorder.at(slot->name());
              if (method == "wanda") {
                slot->set_kernel(rc::prune_wanda(*slot->kernel(), stats.column_norms(), target));
              } else {
                rc::SparseGptConfig config;
                config.target = target;
                config.block_size = sgpt.at("block_size").get<std::int64_t>();
                config.percdamp = sgpt.at("percdamp").get<double>();
                auto result = rc::sparsegpt_prune(*slot->kernel(), stats.hessian(), config, slot->name());
                if (!std::isfinite(result.loss))
                  throw std::runtime_error("compress.prune: layer '" + slot->name() + "': non-finite SparseGPT loss");
                slot->set_kernel(result.kernel);
                run.record_layer_value("compress.sparsegpt_loss", slot->name(), result.loss);
              }
              layers[slot->name()] = describe(target);
            }
          });
      method_info["sequential"] = p.at("sequential");
      method_info["calibration_passes"] = passes;
      method_info["calibration"] = data.source;
      if (method == "sparsegpt") method_info["sparsegpt"] = sgpt;
    } else {
      throw std::invalid_argument("compress.prune: unknown method '" + method +
                                  "' (known: magnitude, magnitude_global, nm, wanda, sparsegpt)");
    }
    method_info["layers"] = layers;
    run.finish(kVersion, method_info);
  }
};

const std::string kSchema = R"J({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "method": {"type": "string", "enum": ["magnitude", "magnitude_global", "nm", "wanda", "sparsegpt"], "default": "magnitude",
      "description": "magnitude: per layer; magnitude_global: one threshold over all selected layers; nm: magnitude with nm (default 2:4); wanda, sparsegpt: with calibration data. N:M: set nm with magnitude, wanda or sparsegpt"},
    "sparsity": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5,
      "description": "fraction of weights set to zero (unstructured): exactly floor(n * sparsity) per layer (per output row for wanda, per column block for sparsegpt)"},
    "nm": {"type": "string", "default": "", "pattern": "^([0-9]+:[0-9]+)?$",
      "description": "N:M structured sparsity instead of sparsity, e.g. '2:4' (keep 2 of every 4 consecutive input weights)"},
    "block_size": {"type": "integer", "minimum": 1, "default": 128, "description": "sparsegpt: columns per mask block / lazy update"},
    "percdamp": {"type": "number", "exclusiveMinimum": 0, "default": 0.01, "description": "sparsegpt: Hessian dampening"},
    "sequential": {"type": "string", "enum": ["layer", "block", "none"], "default": "block",
      "description": "wanda, sparsegpt: calibration passes per transformer block (as the references), per group of layers sharing an input, or one pass over the original model"},)J" +
    bc::calibration_schema() + "," +
    bc::selection_schema(R"J(
      "sparsity": {"type": "number", "minimum": 0, "maximum": 1},
      "nm": {"type": "string", "pattern": "^([0-9]+:[0-9]+)?$"})J") + R"J(
  }
})J";

const biaslab::InputPort kInputs[] = {{"model", "model", 1, 1, "model to prune"},
                                      {"calibration", "corpus", 0, 1, "wanda / sparsegpt calibration text (else calibration_data)"}};

const biaslab::PluginDescriptor kDescriptor = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "compress.prune",
    .version = kVersion,
    .kind = biaslab::PluginKind::transform,
    .summary = "magnitude (per layer / global), N:M, Wanda and SparseGPT pruning of linear layers",
    .params_schema = kSchema.c_str(),
    .inputs = kInputs,
    .num_inputs = 2,
    .output_type = "model",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new Prune); }};

}  // namespace

BIASLAB_PLUGIN(kDescriptor)
