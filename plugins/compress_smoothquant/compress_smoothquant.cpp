// compress.smoothquant: SmoothQuant (Xiao et al., 2023) W8A8.
// 1. One calibration pass over the original model records max |x_j| of the input of every linear
//    layer that reads a pre-norm's output (the reference's act_scales).
// 2. For every norm and the layers reading it (GPT-NeoX: input_layernorm -> query_key_value,
//    post_attention_layernorm -> dense_h_to_4h; Llama/Qwen2/Mistral: input_layernorm -> q/k/v,
//    post_attention_layernorm -> gate/up; GPT-2: ln_1 -> c_attn, ln_2 -> c_fc) the smoothing
//    scales s = max|X|^alpha / max|W|^(1-alpha) are folded into the norm (weight, bias / s) and the
//    layers (W diag(s)): the float function is unchanged.
// 3. Every selected layer becomes a DynamicInt8Linear (int8 weights, int8 activations; by default
//    per-token dynamic ranges over the full 8 bits, the paper's O1 setting and the reference
//    code's act_quant="per_token"):
//    smoothed layers with their smoothed weights, the others (attention output, MLP output
//    projections) as they are -- the reference quantizes all linear layers of the blocks.
// Post-norm architectures (BERT, RoBERTa, DistilBERT) are refused: their norm output also feeds
// the residual stream, so 1/s cannot be folded into it without changing the function.
// Norm weights are modified in place through the tensors LanguageModel::state_dict() returns
// (they share storage with the model's parameters); the plugin checks that they do.
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "biaslab/plugin.hpp"
#include "biaslab/runtime/compress/smoothquant.hpp"
#include "compress_support.hpp"

namespace {

using nlohmann::json;
namespace rt = biaslab::runtime;
namespace rc = biaslab::runtime::compress;
namespace ops = biaslab::runtime::ops;
namespace bc = biaslab::compressors;
constexpr const char* kVersion = "1.1.0";  // 1.1: activation_range, 8-bit activations by default

struct NormGroup {
  std::string norm;                  // module prefix, tensors "<norm>.weight" / "<norm>.bias"
  std::vector<std::string> layers;  // linear layers reading its output
};

std::vector<NormGroup> norm_groups(const rt::LanguageModel& model) {
  const auto& c = model.config();
  std::vector<NormGroup> groups;
  for (std::int64_t i = 0; i < c.num_layers; ++i) {
    const auto n = std::to_string(i);
    switch (c.architecture) {
      case rt::Architecture::gpt_neox: {
        const auto p = "gpt_neox.layers." + n + ".";
        groups.push_back({p + "input_layernorm", {p + "attention.query_key_value"}});
        groups.push_back({p + "post_attention_layernorm", {p + "mlp.dense_h_to_4h"}});
        break;
      }
      case rt::Architecture::llama:
      case rt::Architecture::qwen2:
      case rt::Architecture::mistral: {
        const auto p = "model.layers." + n + ".";
        groups.push_back({p + "input_layernorm", {p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"}});
        groups.push_back({p + "post_attention_layernorm", {p + "mlp.gate_proj", p + "mlp.up_proj"}});
        break;
      }
      case rt::Architecture::gpt2: {
        const auto p = "transformer.h." + n + ".";
        groups.push_back({p + "ln_1", {p + "attn.c_attn"}});
        groups.push_back({p + "ln_2", {p + "mlp.c_fc"}});
        break;
      }
      default:
        throw std::invalid_argument("compress.smoothquant: not supported for architecture '" + rt::to_string(c.architecture) +
                                    "' (post-LayerNorm blocks: the norm's output also feeds the residual stream, so the "
                                    "smoothing factors cannot be folded into it); use compress.dynamic_int8 for W8A8 "
                                    "without smoothing");
    }
  }
  return groups;
}

class SmoothQuant final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    const auto& p = ctx.params();
    const json int8_defaults = {{"scheme", p.at("scheme")},
                                {"engine", p.at("engine")},
                                {"reduce_range", p.at("reduce_range")},
                                {"activation_range", p.at("activation_range")}};
    const auto default_options = ops::DynamicInt8Options::from_json(int8_defaults);  // engine checked here
    const json defaults = {{"alpha", p.at("alpha")}, {"scheme", p.at("scheme")}};

    bc::CompressionRun run(ctx, "compress.smoothquant");
    const auto groups = norm_groups(run.model());
    std::set<std::string> selected;
    for (auto* slot : run.selected()) selected.insert(slot->name());

    // 1. activation ranges of the smoothed layers' inputs, on the original model
    const auto data = bc::load_calibration_data(run);
    run.set_calibration_samples(static_cast<std::int64_t>(data.samples.size()));
    rc::CalibrationOptions options;
    options.abs_max = true;
    options.sq_norm = false;
    options.hessian = false;
    rc::CalibrationRecorder recorder(options);
    std::vector<const NormGroup*> smoothed;
    for (const auto& g : groups) {
      std::size_t chosen = 0;
      for (const auto& l : g.layers) chosen += selected.count(l);
      if (chosen == 0) continue;
      if (chosen != g.layers.size())
        throw std::invalid_argument("compress.smoothquant: layers " + bc::join(g.layers) + " share the norm '" + g.norm +
                                    "' and must be selected together (select all or none of them)");
      smoothed.push_back(&g);
      recorder.attach(run.model().linear(g.layers.front()));
    }
    try {
      bc::run_calibration_forward(run.model(), data, ctx);
    } catch (...) {
      for (const auto* g : smoothed) rc::CalibrationRecorder::detach(run.model().linear(g->layers.front()));
      throw;
    }
    for (const auto* g : smoothed) rc::CalibrationRecorder::detach(run.model().linear(g->layers.front()));

    // 2. fold the scales into the norms and the following layers
    c10::InferenceMode inference;  // the norm tensors were made in inference mode
    auto state = run.model().state_dict();
    json norms = json::object();
    for (const auto* g : smoothed) {
      const auto weight_it = state.find(g->norm + ".weight");
      if (weight_it == state.end())
        throw std::runtime_error("compress.smoothquant: the model has no tensor '" + g->norm + ".weight'");
      std::optional<torch::Tensor> bias;
      if (auto it = state.find(g->norm + ".bias"); it != state.end()) bias = it->second;
      std::vector<rt::Linear*> slots;
      for (const auto& l : g->layers) slots.push_back(&run.model().linear(l));
      const double alpha = run.settings_for(g->layers.front(), defaults).at("alpha").get<double>();
      std::vector<const rt::LinearKernel*> kernels;
      for (auto* s : slots) kernels.push_back(s->kernel().get());
      const auto scales = rc::smoothquant_scales(recorder.at(g->layers.front()).abs_max, kernels, alpha);
      const auto expected = weight_it->second.to(torch::kFloat32) / scales;
      rc::apply_smoothing(weight_it->second, bias, slots, scales);
      // The model must see the new norm weights (state_dict shares storage with its parameters).
      if (!torch::allclose(run.model().state_dict().at(g->norm + ".weight").to(torch::kFloat32), expected, 1e-5, 1e-6))
        throw std::logic_error("compress.smoothquant: the model API returned a copy of '" + g->norm +
                               ".weight'; smoothing cannot be folded into the norm");
      norms[g->norm] = {{"layers", g->layers}, {"alpha", alpha}, {"max_scale", scales.max().item<double>()},
                        {"min_scale", scales.min().item<double>()}};
    }

    // 3. W8A8 on every selected layer
    json layers = json::object();
    if (p.at("quantize").get<bool>()) {
      for (auto* slot : run.selected()) {
        auto settings = run.settings_for(slot->name(), int8_defaults);
        settings.erase("alpha");
        ops::DynamicInt8Options o;
        try {
          o = ops::DynamicInt8Options::from_json(settings);
        } catch (const std::exception& e) {
          throw std::invalid_argument("compress.smoothquant: layer '" + slot->name() + "': " + e.what());
        }
        const auto& k = *slot->kernel();
        slot->set_kernel(ops::DynamicInt8Linear::quantize(k.weight(), k.bias(), o));
        layers[slot->name()] = {{"scheme", ops::to_string(o.scheme)},
                                {"activation_range", ops::to_string(o.activation_range)},
                                {"reduce_range", o.reduce_range}};
      }
    }
    run.finish(kVersion, {{"name", "smoothquant"},
                          {"engine", default_options.engine},
                          {"quantize", p.at("quantize")},
                          {"calibration", data.source},
                          {"norms", norms},
                          {"layers", layers}});
  }
};

const std::string kSchema = R"J({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "alpha": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5, "description": "migration strength: s = max|X|^alpha / max|W|^(1-alpha)"},
    "quantize": {"type": "boolean", "default": true, "description": "W8A8 after smoothing; false: smoothing only (float layers, same function)"},
    "scheme": {"type": "string", "enum": ["per_tensor", "per_channel"], "default": "per_tensor", "description": "int8 weight scales"},
    "engine": {"type": "string", "default": "onednn", "description": "quantized engine (onednn, qnnpack)"},
    "reduce_range": {"type": "boolean", "default": false, "description": "false (default): 8-bit activations, as the SmoothQuant paper (W8A8); true: 7-bit [0, 127] as torch's dynamic Linear passes on x86, where it keeps oneDNN/fbgemm's pairwise u8 x s8 int16 sums (vpmaddubsw) from saturating on CPUs without VNNI -- at the cost of one bit of activation precision"},
    "activation_range": {"type": "string", "enum": ["per_token", "per_sequence", "per_batch"], "default": "per_token",
      "description": "rows sharing one dynamic activation range: per_token (default; SmoothQuant-O1 and the reference code's act_quant='per_token'; batch-invariant), per_sequence (O2-style per-tensor range over each sequence alone; batch-invariant), per_batch (per-tensor range over each padded batch; depends on batch composition)"},)J" +
    bc::calibration_schema() + "," +
    bc::selection_schema(R"J(
      "alpha": {"type": "number", "minimum": 0, "maximum": 1, "description": "matched against the first layer reading a norm (q_proj, query_key_value, c_attn, gate_proj, ...)"},
      "scheme": {"type": "string", "enum": ["per_tensor", "per_channel"]},
      "activation_range": {"type": "string", "enum": ["per_token", "per_sequence", "per_batch"]})J") + R"J(
  }
})J";

const biaslab::InputPort kInputs[] = {{"model", "model", 1, 1, "model to quantize"},
                                      {"calibration", "corpus", 0, 1, "calibration text (else calibration_data)"}};

const biaslab::PluginDescriptor kDescriptor = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "compress.smoothquant",
    .version = kVersion,
    .kind = biaslab::PluginKind::transform,
    .summary = "SmoothQuant: activation smoothing folded into pre-norms, then W8A8 int8 kernels",
    .params_schema = kSchema.c_str(),
    .inputs = kInputs,
    .num_inputs = 2,
    .output_type = "model",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new SmoothQuant); }};

}  // namespace

BIASLAB_PLUGIN(kDescriptor)
