#include "compress_support.hpp"

#include <fstream>
#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "biaslab/runtime/checkpoint.hpp"
#include "biaslab/runtime/compress/stats.hpp"
#include "biaslab/runtime/ops/compressed_formats.hpp"

namespace biaslab::compressors {

namespace fs = std::filesystem;
using nlohmann::json;
namespace rc = runtime::compress;

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

std::string selection_schema(const std::string& override_properties, bool output_head_default,
                             const std::string& output_head_description) {
  return R"J(
    "include": {"type": "array", "items": {"type": "string"}, "default": ["*"],
      "description": "glob patterns (fnmatch, '*' matches dots too) of the linear layers to compress, matched against HF module names, e.g. 'gpt_neox.layers.*.mlp.*'"},
    "exclude": {"type": "array", "items": {"type": "string"}, "default": [],
      "description": "glob patterns of layers left untouched; the output head (lm_head / embed_out / MLM decoder) is never selected unless include_output_head"},
    "include_output_head": {"type": "boolean", "default": )J" + std::string(output_head_default ? "true" : "false") +
         R"J(,
      "description": ")J" + output_head_description + R"J("},
    "overrides": {"type": "array", "default": [],
      "description": "per-layer settings: [{pattern = '*.mlp.*', bits = 3}, ...]; every matching entry is merged onto the node's settings in order (later entries win)",
      "items": {"type": "object", "required": ["pattern"], "additionalProperties": false,
        "properties": {"pattern": {"type": "string", "description": "glob over layer names"})J" +
         (override_properties.empty() ? std::string() : ", " + override_properties) + "}}}";
}

std::string calibration_schema() {
  return R"J(
    "calibration_data": {"type": "string", "default": "c4-en-sample/c4-train.00000-of-01024.first1000.jsonl",
      "description": "calibration text when no corpus is connected to the 'calibration' port: '<data set>/<file>' of the data mirror (e.g. wikitext-2-raw-v1/wiki.test.raw) or an absolute path; *.jsonl files: the 'text' field of each line"},
    "calibration_split": {"type": "string", "default": "train", "description": "split of the connected corpus artifact"},
    "nsamples": {"type": "integer", "minimum": 1, "default": 128, "description": "calibration windows"},
    "seqlen": {"type": "integer", "minimum": 0, "default": 0, "description": "tokens per window; 0: min(2048, max_position_embeddings)"},
    "sampling": {"type": "string", "enum": ["random", "contiguous"], "default": "random",
      "description": "random: window starts drawn uniformly with the node seed (GPTQ reference); contiguous: consecutive windows from the start of the text"},
    "calibration_batch": {"type": "integer", "minimum": 1, "default": 4, "description": "windows per forward pass (memory only; results do not depend on it)"})J";
}

// ---- CompressionRun ---------------------------------------------------------------------------------

namespace {

std::vector<rc::LayerOverride> read_overrides(const json& params, const std::string& plugin) {
  std::vector<rc::LayerOverride> overrides;
  for (const auto& entry : params.value("overrides", json::array())) {
    if (!entry.is_object() || !entry.contains("pattern") || !entry["pattern"].is_string())
      throw std::invalid_argument(plugin + ": every entry of 'overrides' needs a string 'pattern', got " + entry.dump());
    rc::LayerOverride o;
    o.pattern = entry["pattern"].get<std::string>();
    o.settings = entry;
    o.settings.erase("pattern");
    overrides.push_back(std::move(o));
  }
  return overrides;
}

}  // namespace

std::int64_t stored_storage_bytes(const runtime::LanguageModel& model, const fs::path& checkpoint_dir) {
  const runtime::CheckpointReader reader(checkpoint_dir);
  // Fallback for tensors stored under another name (original GPT-2 checkpoints lack the "transformer."
  // prefix): the floating-point dtype holding most of the checkpoint's elements.
  std::map<torch::Dtype, std::int64_t> elements_by_dtype;
  for (const auto& name : reader.names()) {
    const auto dtype = reader.dtype(name);
    if (!c10::isFloatingType(dtype)) continue;
    std::int64_t numel = 1;
    for (auto d : reader.shape(name)) numel *= d;
    elements_by_dtype[dtype] += numel;
  }
  const auto dominant = std::max_element(elements_by_dtype.begin(), elements_by_dtype.end(),
                                         [](const auto& a, const auto& b) { return a.second < b.second; });
  auto stored_dtype = [&](const std::string& name) {
    if (reader.contains(name)) return reader.dtype(name);
    if (const auto dot = name.find('.'); dot != std::string::npos && reader.contains(name.substr(dot + 1)))
      return reader.dtype(name.substr(dot + 1));
    if (dominant == elements_by_dtype.end())
      throw std::runtime_error("bytes before: " + reader.description_path().string() + " stores no floating-point tensor");
    return dominant->first;
  };
  std::int64_t bytes = model.storage_bytes();
  for (const auto& [name, tensor] : model.state_dict()) {
    if (!tensor.is_floating_point()) continue;
    const auto stored_size = static_cast<std::int64_t>(c10::elementSize(stored_dtype(name)));
    bytes += tensor.numel() * (stored_size - static_cast<std::int64_t>(tensor.element_size()));
  }
  return bytes;
}

CompressionRun::CompressionRun(NodeContext& ctx, std::string plugin, std::optional<torch::Dtype> dtype)
    : ctx_(ctx), plugin_(std::move(plugin)), start_(std::chrono::steady_clock::now()) {
  runtime::ops::register_compressed_formats();
  const auto inputs = ctx.inputs("model");
  if (inputs.size() != 1)
    throw std::invalid_argument(plugin_ + ": expects exactly one model on port 'model', got " + std::to_string(inputs.size()));
  runtime::LoadOptions options;
  options.dtype = dtype;
  model_ = runtime::load_model(inputs.front(), options);
  bytes_before_ = stored_storage_bytes(*model_, inputs.front().path);

  const auto& params = ctx.params();
  const auto include = params.value("include", std::vector<std::string>{"*"});
  const auto exclude = params.value("exclude", std::vector<std::string>{});
  selector_ = rc::LayerSelector(include, exclude, read_overrides(params, plugin_));
  const bool head = params.value("include_output_head", false);
  for (auto* slot : model_->linear_layers(head))
    if (selector_.selected(slot->name())) selected_.push_back(slot);
  // A pattern that selects nothing is almost always a typo: say so rather than doing nothing.
  if (selected_.empty()) {
    std::vector<std::string> names;
    for (auto* slot : model_->linear_layers(head)) names.push_back(slot->name());
    throw std::invalid_argument(plugin_ + ": include " + json(include).dump() + " / exclude " + json(exclude).dump() +
                                " select no linear layer of " + inputs.front().path.string() + " (layers: " +
                                join(names) + ")");
  }
  for (const auto& o : read_overrides(params, plugin_)) {
    bool matches = false;
    for (auto* slot : selected_) matches = matches || rc::LayerSelector::glob_match(o.pattern, slot->name());
    if (!matches) ctx.log().warn("{}: override pattern '{}' matches no selected layer", plugin_, o.pattern);
  }
  ctx.log().info("{}: {} of {} linear layers selected", plugin_, selected_.size(), model_->linear_layers(true).size());
}

json CompressionRun::settings_for(const std::string& layer, const json& defaults) const {
  return selector_.settings_for(layer, defaults);
}

bool CompressionRun::has_overrides() const { return !ctx_.params().value("overrides", json::array()).empty(); }

void CompressionRun::record_layer_value(const std::string& metric, const std::string& layer, double value) {
  layer_values_.emplace_back(metric, layer, value);
}

void CompressionRun::finish(const char* version, json method) {
  const auto& out = ctx_.output_dir();
  model_->save_pretrained(out, /*copy_tokenizer=*/true);

  std::vector<const runtime::Linear*> touched(selected_.begin(), selected_.end());
  const auto summary = rc::summarize_compression(touched);
  const auto bytes = model_->storage_bytes();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const auto& input = ctx_.inputs("model").front();

  json info = {{"type", "model"},
               {"compressor", plugin_},
               {"version", version},
               {"base", input.producer},
               {"base_path", input.path.string()},
               {"params", ctx_.params()},
               {"method", std::move(method)},
               {"architecture", model_->architecture()},
               {"parameters", model_->parameter_count()},
               {"bytes", bytes},
               {"bytes_before", bytes_before_},
               {"calibration_samples", calibration_samples_},
               {"summary", summary.to_json()}};
  std::ofstream(out / "artifact.json") << info.dump(2) << "\n";

  const auto& name = ctx_.node_name();
  auto emit = [&](const std::string& metric, double value, const std::string& category = "overall",
                  std::optional<std::int64_t> n = std::nullopt) {
    ResultRow row;
    row.model = name;
    row.metric = metric;
    row.category = category;
    row.value = value;
    row.n = n;
    ctx_.emit(std::move(row));
  };
  emit("compress.bytes", static_cast<double>(bytes));
  emit("compress.bytes_before", static_cast<double>(bytes_before_));
  emit("compress.bits_per_weight", summary.bits_per_weight(), "overall", summary.weights);
  emit("compress.sparsity", summary.sparsity(), "overall", summary.weights);
  for (const auto& layer : summary.layers) emit("compress.sparsity", layer.sparsity(), layer.name, layer.weights);
  emit("compress.layers_touched", static_cast<double>(summary.layers.size()));
  emit("compress.calibration_samples", static_cast<double>(calibration_samples_));
  emit("compress.seconds", seconds);
  for (const auto& [metric, layer, value] : layer_values_) emit(metric, value, layer);
  ctx_.log().info("{}: {} -> {} bytes ({:.3f} bits/weight over {} layers, sparsity {:.4f}) in {:.1f} s", plugin_,
                  bytes_before_, bytes, summary.bits_per_weight(), summary.layers.size(), summary.sparsity(), seconds);
}

// ---- calibration passes ---------------------------------------------------------------------------

void run_calibration_forward(const runtime::LanguageModel& model, const CalibrationData& data, NodeContext& ctx) {
  const auto batch = std::max<std::int64_t>(1, ctx.params().value("calibration_batch", 4));
  const auto n = static_cast<std::int64_t>(data.samples.size());
  for (std::int64_t start = 0; start < n; start += batch) {
    if (ctx.cancelled()) throw std::runtime_error("cancelled");
    const auto end = std::min(n, start + batch);
    const auto T = static_cast<std::int64_t>(data.samples[start].size());
    auto ids = torch::empty({end - start, T}, torch::kInt64);
    for (std::int64_t i = start; i < end; ++i) {
      if (static_cast<std::int64_t>(data.samples[i].size()) != T)
        throw std::logic_error("calibration windows must have equal lengths");
      std::memcpy(ids[i - start].data_ptr<std::int64_t>(), data.samples[i].data(), T * sizeof(std::int64_t));
    }
    (void)model.hidden_states(ids);
  }
}

namespace {

// "gpt_neox.layers.3.mlp.dense_h_to_4h" -> "gpt_neox.layers.3."; layers outside numbered blocks
// (output head) are their own block.
std::string block_of(const std::string& layer) {
  static const std::regex numbered(R"J(^(.*?\.\d+\.))J");
  std::smatch m;
  if (std::regex_search(layer, m, numbered)) return m[1].str();
  return layer;
}

}  // namespace

std::size_t sequential_calibration(CompressionRun& run, const CalibrationData& data, rc::CalibrationOptions options,
                            const std::string& mode, const GroupCompressor& compress) {
  if (mode != "layer" && mode != "block" && mode != "none")
    throw std::invalid_argument(run.plugin() + ": sequential must be 'layer', 'block' or 'none', got '" + mode + "'");
  std::vector<runtime::Linear*> pending = run.selected();
  std::size_t passes = 0;
  const std::size_t total = pending.size();
  while (!pending.empty()) {
    const std::string block = block_of(pending.front()->name());
    std::vector<runtime::Linear*> candidates;
    for (auto* slot : pending)
      if (mode == "none" || block_of(slot->name()) == block) candidates.push_back(slot);

    rc::CalibrationRecorder recorder(options);
    // First input each candidate sees, kept alive so no later tensor can reuse its address: layers
    // whose first inputs are the same tensor read the same activations (q/k/v, gate/up).
    std::map<std::string, torch::Tensor> first_input;
    std::mutex first_mutex;
    for (auto* slot : candidates) {
      slot->set_observer([&recorder, &first_input, &first_mutex](const std::string& layer, const torch::Tensor& x) {
        {
          std::lock_guard lock(first_mutex);
          first_input.try_emplace(layer, x);
        }
        recorder.observe(layer, x);
      });
    }
    try {
      run_calibration_forward(run.model(), data, run.ctx());
    } catch (...) {
      for (auto* slot : candidates) slot->set_observer({});
      throw;
    }
    for (auto* slot : candidates) slot->set_observer({});
    ++passes;

    std::vector<runtime::Linear*> group;
    if (mode == "layer") {
      const auto head = first_input.find(pending.front()->name());
      if (head == first_input.end())
        throw std::runtime_error(run.plugin() + ": layer '" + pending.front()->name() +
                                 "' received no input during calibration (is it used by the forward pass?)");
      for (auto* slot : candidates) {
        auto it = first_input.find(slot->name());
        if (it != first_input.end() && it->second.data_ptr() == head->second.data_ptr() &&
            it->second.sizes() == head->second.sizes() && it->second.strides() == head->second.strides())
          group.push_back(slot);
      }
    } else {
      group = candidates;
    }
    for (auto* slot : group)
      if (!recorder.contains(slot->name()))
        throw std::runtime_error(run.plugin() + ": layer '" + slot->name() + "' received no input during calibration");
    first_input.clear();
    compress(group, recorder);
    std::set<runtime::Linear*> done(group.begin(), group.end());
    std::erase_if(pending, [&](runtime::Linear* s) { return done.count(s) > 0; });
    run.ctx().progress(static_cast<double>(total - pending.size()) / static_cast<double>(total), "calibrating");
  }
  run.ctx().log().info("{}: {} calibration passes over {} windows (sequential = {})", run.plugin(), passes,
                       data.samples.size(), mode);
  return passes;
}

}  // namespace biaslab::compressors
