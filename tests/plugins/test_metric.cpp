// test.metric: scores each input model (its value times `weight`), per category.
#include "biaslab/plugin.hpp"
#include "test_support.hpp"

namespace {
class Metric final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    biaslab::test::record_execution(ctx);
    double w = ctx.params()["weight"].get<double>();
    for (const auto& m : ctx.inputs("models")) {
      double v = biaslab::test::read_value(m.path) * w;
      ctx.emit({.model = m.producer, .metric = "test.score", .value = v, .ci_low = v - 1, .ci_high = v + 1, .n = 3});
      ctx.emit({.model = m.producer, .metric = "test.score", .category = "gender", .value = v / 2});
      for (int i = 0; i < 3; ++i)
        ctx.emit_example({.model = m.producer, .metric = "test.score", .example_id = std::to_string(i),
                          .values = {{"score", v + i}}});
    }
    for (const auto& c : ctx.inputs("corpus")) ctx.emit({.model = c.producer, .metric = "test.corpus_seen", .value = 1});
  }
};
const biaslab::InputPort kInputs[] = {{"models", "model", 1, -1, "models to score"},
                                      {"corpus", "corpus", 0, 1, "optional text"}};
const biaslab::PluginDescriptor kPlugin = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "test.metric",
    .version = "1.0.0",
    .kind = biaslab::PluginKind::metric,
    .summary = "test fixture: scores models by their number",
    .params_schema = R"({"type": "object", "additionalProperties": false, "properties": {
        "weight": {"type": "number", "default": 1.0, "description": "scale of the score"}}})",
    .inputs = kInputs,
    .num_inputs = 2,
    .output_type = "results",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new Metric); }};
}  // namespace
BIASLAB_PLUGIN(kPlugin)
