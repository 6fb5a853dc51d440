// metric.hello_length: a minimal metric plugin written outside the biaslab tree. It "scores"
// every input model by the total size of its files, to show the whole plugin contract:
// descriptor, parameter schema with defaults, typed inputs, results rows.
#include <filesystem>

#include <biaslab/plugin.hpp>
#include <spdlog/spdlog.h>

namespace {

class HelloLength final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    const double scale = ctx.params()["scale"].get<double>();
    for (const auto& model : ctx.inputs("models")) {
      std::uintmax_t bytes = 0;
      for (const auto& e : std::filesystem::recursive_directory_iterator(model.path))
        if (e.is_regular_file()) bytes += e.file_size();
      ctx.log().info("{}: {} bytes", model.producer, bytes);
      ctx.emit({.model = model.producer, .metric = "hello.bytes", .value = scale * static_cast<double>(bytes)});
    }
  }
};

const biaslab::InputPort kInputs[] = {{"models", "any", 1, -1, "artifacts to measure"}};

const biaslab::PluginDescriptor kDescriptor = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "metric.hello_length",
    .version = "0.1.0",
    .kind = biaslab::PluginKind::metric,
    .summary = "example: total file size of each input artifact",
    .params_schema = R"({
      "$schema": "http://json-schema.org/draft-07/schema#",
      "type": "object", "additionalProperties": false,
      "properties": {"scale": {"type": "number", "default": 1.0, "description": "multiplier applied to the byte count"}}
    })",
    .inputs = kInputs,
    .num_inputs = 1,
    .output_type = "results",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new HelloLength); }};

}  // namespace

BIASLAB_PLUGIN(kDescriptor)
