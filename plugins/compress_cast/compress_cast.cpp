// compress.cast: the whole model in float16 or bfloat16, as HF's from_pretrained(torch_dtype=...)
// / model.to(dtype) + save_pretrained produce it: every floating-point parameter is cast, norms
// and embeddings included (none of the supported architectures declares _keep_in_fp32_modules,
// so HF keeps no norm in float32 either). The saved config.json has torch_dtype set accordingly.
// Layer selection does not apply (a model has one parameter dtype); compressed kernels of an
// input model keep their own storage.
//
// Note: libtorch 1.13 has no float16 matmul on CPU, so a float16 model can be written here but
// only run on a GPU (the runtime refuses CPU float16 forwards with a clear error); bfloat16 runs
// everywhere.
#include <spdlog/spdlog.h>

#include "biaslab/plugin.hpp"
#include "compress_support.hpp"

namespace {

using nlohmann::json;
constexpr const char* kVersion = "1.0.0";

class Cast final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    const auto dtype_name = ctx.params().at("dtype").get<std::string>();
    const auto dtype = biaslab::runtime::parse_dtype(dtype_name);
    // bytes_before: the input checkpoint's own size (its stored dtypes), as for every compressor.
    biaslab::compressors::CompressionRun run(ctx, "compress.cast", dtype);
    run.finish(kVersion, {{"name", "cast"}, {"dtype", biaslab::runtime::dtype_name(dtype)}, {"scope", "all floating-point parameters, norms and embeddings included"}});
  }
};

const std::string kSchema = R"J({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "dtype": {"type": "string", "enum": ["float16", "bfloat16", "float32"], "default": "bfloat16",
      "description": "parameter dtype of the whole model (norms and embeddings included, as HF casts them)"}
  }
})J";

const biaslab::InputPort kInputs[] = {{"model", "model", 1, 1, "model to cast"}};

const biaslab::PluginDescriptor kDescriptor = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "compress.cast",
    .version = kVersion,
    .kind = biaslab::PluginKind::transform,
    .summary = "cast a model's weights to float16 / bfloat16 (as HF torch_dtype)",
    .params_schema = kSchema.c_str(),
    .inputs = kInputs,
    .num_inputs = 1,
    .output_type = "model",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new Cast); }};

}  // namespace

BIASLAB_PLUGIN(kDescriptor)
