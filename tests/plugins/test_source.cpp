// test.source: a "model" whose whole content is one number.
#include <fstream>

#include "biaslab/data/missing_data.hpp"
#include "biaslab/plugin.hpp"
#include "test_support.hpp"

namespace {
class Source final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    biaslab::test::record_execution(ctx);
    double value = ctx.params()["value"].get<double>();
    if (ctx.params().contains("data_file")) {
      // Optional data: its number replaces `value` when the file exists; else the run records it as missing.
      const std::string file = ctx.params()["data_file"].get<std::string>();
      if (std::filesystem::exists(file)) {
        std::ifstream(file) >> value;
      } else {
        biaslab::data::record_missing_data(ctx.output_dir(), file);
      }
    }
    biaslab::test::write_value(ctx.output_dir(), value + 0.001 * static_cast<double>(ctx.seed() % 1000));
    ctx.emit({.model = ctx.node_name(), .metric = "source.value", .value = ctx.params()["value"].get<double>()});
  }
};
const biaslab::PluginDescriptor kPlugin = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "test.source",
    .version = "1.0.0",
    .kind = biaslab::PluginKind::source,
    .summary = "test fixture: a model that is one number",
    .params_schema = R"({"type": "object", "additionalProperties": false, "properties": {
        "value": {"type": "number", "default": 1.0, "description": "the number"},
        "label": {"type": "string", "description": "free text"},
        "data_file": {"type": "string", "description": "absolute path of optional data: a number that replaces value"},
        "size": {"type": "string", "enum": ["70m", "160m", "410m"], "default": "70m", "description": "model size"},
        "options": {"type": "object", "additionalProperties": false, "properties": {
            "depth": {"type": "integer", "minimum": 1, "default": 2, "description": "nested"}}}}})",
    .inputs = nullptr,
    .num_inputs = 0,
    .output_type = "model",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new Source); }};
}  // namespace
BIASLAB_PLUGIN(kPlugin)
