// test.scale: model in, model out (value * factor), like a compressor.
#include "biaslab/plugin.hpp"
#include "test_support.hpp"

// test_scale_changed.cpp builds this plugin as after a fix (same name and version, other code).
#ifndef BIASLAB_TEST_SCALE_OFFSET
#define BIASLAB_TEST_SCALE_OFFSET 0.0
#endif

namespace {
class Scale final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    biaslab::test::record_execution(ctx);
    if (ctx.params()["fail"].get<bool>()) throw std::runtime_error("asked to fail");
    auto in = ctx.inputs("model");
    double v = biaslab::test::read_value(in[0].path) * ctx.params()["factor"].get<double>() + BIASLAB_TEST_SCALE_OFFSET;
    biaslab::test::write_value(ctx.output_dir(), v);
    ctx.emit({.model = ctx.node_name(), .metric = "scale.factor", .value = ctx.params()["factor"].get<double>()});
  }
};
const biaslab::InputPort kInputs[] = {{"model", "model", 1, 1, "model to scale"}};
const biaslab::PluginDescriptor kPlugin = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "test.scale",
    .version = "1.0.0",
    .kind = biaslab::PluginKind::transform,
    .summary = "test fixture: multiplies a model by a factor",
    .params_schema = R"({"type": "object", "additionalProperties": false, "properties": {
        "factor": {"type": "number", "default": 2.0, "description": "multiplier"},
        "bits": {"type": "integer", "enum": [2, 3, 4, 8], "default": 8, "description": "pretend bit width"},
        "fail": {"type": "boolean", "default": false, "description": "throw instead of running"}}})",
    .inputs = kInputs,
    .num_inputs = 1,
    .output_type = "model",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new Scale); }};
}  // namespace
BIASLAB_PLUGIN(kPlugin)
