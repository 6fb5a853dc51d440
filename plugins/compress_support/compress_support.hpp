#pragma once
// Shared by the compressor plugins (plugins/compress_*): loading the input model, the per-layer
// selection (`include` / `exclude` / `overrides` parameters), calibration data, the sequential
// calibration driver of GPTQ / Wanda / SparseGPT, and the output: the compressed model in HF
// layout, artifact.json and the statistics rows.
#include <chrono>
#include <optional>
#include <tuple>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/node_context.hpp"
#include "biaslab/runtime/compress/calibration.hpp"
#include "biaslab/runtime/compress/layer_selector.hpp"
#include "biaslab/runtime/model.hpp"

namespace biaslab::compressors {

// JSON Schema fragments shared by the plugins' parameter schemas. `override_properties` lists the
// keys an override may set (besides "pattern"), as JSON Schema properties.
std::string selection_schema(
    const std::string& override_properties, bool output_head_default = false,
    const std::string& output_head_description =
        "also consider the output projection (often tied to the input embeddings; compressing it unties it)");
std::string calibration_schema();

// storage_bytes() of `model` with every floating-point tensor counted in the dtype the checkpoint in
// `checkpoint_dir` stores it in (not the dtype it was loaded in): the "bytes before" of a compressor, so a
// bfloat16 checkpoint loaded in float32 reports its own size, not twice it. A tensor stored under another
// name (also tried without its first dotted component) counts in the checkpoint's dominant float dtype.
std::int64_t stored_storage_bytes(const runtime::LanguageModel& model, const std::filesystem::path& checkpoint_dir);

// One compressor run: the model loaded from the "model" input in float32, the selected layers,
// and the bookkeeping for the statistics.
class CompressionRun {
 public:
  // Loads the input model (compressed kernel formats registered first) and reads the selection
  // parameters. `plugin` labels errors ("compress.rtn").
  CompressionRun(NodeContext& ctx, std::string plugin,
                 std::optional<torch::Dtype> dtype = torch::kFloat32);

  NodeContext& ctx() const { return ctx_; }
  const std::string& plugin() const { return plugin_; }
  runtime::LanguageModel& model() const { return *model_; }
  const runtime::compress::LayerSelector& selector() const { return selector_; }
  // Selected linear slots in module order (output head excluded unless `include_output_head`).
  const std::vector<runtime::Linear*>& selected() const { return selected_; }
  // `defaults` merged with every override whose pattern matches the layer.
  nlohmann::json settings_for(const std::string& layer, const nlohmann::json& defaults) const;
  // True when the node has overrides.
  bool has_overrides() const;

  void set_calibration_samples(std::int64_t n) { calibration_samples_ = n; }
  // Default: stored_storage_bytes() of the input model (its checkpoint's stored dtypes).
  void set_bytes_before(std::int64_t bytes) { bytes_before_ = bytes; }
  // Extra per-layer rows (e.g. GPTQ loss), emitted by finish() with category = layer.
  void record_layer_value(const std::string& metric, const std::string& layer, double value);

  // Saves the model into output_dir (HF layout, tokenizer files copied), writes artifact.json
  // ({"type": "model", "compressor", "version", "base", "params", "method", "summary", ...}) and
  // emits the statistics rows. `method` describes what was done (stored under "method").
  void finish(const char* version, nlohmann::json method);

 private:
  NodeContext& ctx_;
  std::string plugin_;
  std::unique_ptr<runtime::LanguageModel> model_;
  runtime::compress::LayerSelector selector_;
  std::vector<runtime::Linear*> selected_;
  std::int64_t bytes_before_ = 0;
  std::int64_t calibration_samples_ = 0;
  std::vector<std::tuple<std::string, std::string, double>> layer_values_;
  std::chrono::steady_clock::time_point start_;
};

// Token windows for calibration.
struct CalibrationData {
  std::vector<std::vector<std::int64_t>> samples;  // nsamples windows of seqlen tokens
  nlohmann::json source;                           // where the text came from, for artifact.json
};

// Text of the "calibration" corpus input (split `calibration_split`, documents joined by "\n\n"),
// or of the `calibration_data` file ('<data set>/<file>' of the data mirror or an absolute path;
// *.jsonl: the "text" field of every line, joined by "\n\n"), tokenized as one text with the
// model's tokenizer (special tokens added as the tokenizer's post-processor does). Windows:
// `sampling` "random" -- nsamples starts drawn uniformly from [0, tokens - seqlen] with the node
// seed (the GPTQ reference's wikitext2 loader); "contiguous" -- windows 0, seqlen, 2 seqlen, ....
// seqlen 0: min(2048, max_position_embeddings).
CalibrationData load_calibration_data(const CompressionRun& run);

// Calibration passes over the data with recorders attached, handing each group of layers to
// `compress` once its inputs are recorded; compress replaces the group's kernels, and the next
// pass sees their compressed outputs. `mode`:
//  * "layer": one pass per group of layers that read the same input tensor in a block (q/k/v,
//    gate/up; a single layer otherwise), in module order -- GPTQ's --true-sequential;
//  * "block": one pass per transformer block (all selected layers of block i calibrated with
//    blocks < i compressed; layers inside a block see the uncompressed block);
//  * "none": one pass over the original model for all layers.
// Cost: (number of passes) x (forward of the model over the calibration tokens). Returns the
// number of passes.
using GroupCompressor = std::function<void(const std::vector<runtime::Linear*>& group,
                                           const runtime::compress::CalibrationRecorder& recorder)>;
std::size_t sequential_calibration(CompressionRun& run, const CalibrationData& data,
                            runtime::compress::CalibrationOptions options, const std::string& mode,
                            const GroupCompressor& compress);

// Runs the calibration windows through the model (hidden states only), in batches.
void run_calibration_forward(const runtime::LanguageModel& model, const CalibrationData& data, NodeContext& ctx);

// "a, b, c"
std::string join(const std::vector<std::string>& items, const std::string& separator = ", ");

}  // namespace biaslab::compressors
