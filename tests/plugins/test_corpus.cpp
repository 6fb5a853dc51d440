// test.corpus: a corpus artifact (to check type mismatches between nodes).
#include <fstream>

#include "biaslab/plugin.hpp"
#include "test_support.hpp"

namespace {
class Corpus final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    biaslab::test::record_execution(ctx);
    std::ofstream(ctx.output_dir() / "train.txt") << "hello world\n";
  }
};
const biaslab::PluginDescriptor kPlugin = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "test.corpus",
    .version = "1.0.0",
    .kind = biaslab::PluginKind::source,
    .summary = "test fixture: a one-line corpus",
    .params_schema = R"({"type": "object", "additionalProperties": false, "properties": {}})",
    .inputs = nullptr,
    .num_inputs = 0,
    .output_type = "corpus",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new Corpus); }};
}  // namespace
BIASLAB_PLUGIN(kPlugin)
