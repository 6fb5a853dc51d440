// A plugin built for another plugin ABI: the host must refuse it before reading anything else.
#include "biaslab/plugin.hpp"

namespace {
const biaslab::PluginDescriptor kPlugin = {
    .abi_version = biaslab::kPluginAbiVersion + 41,
    .name = "test.abi_mismatch",
    .version = "9.9.9",
    .kind = biaslab::PluginKind::metric,
    .summary = "never loaded",
    .params_schema = "{}",
    .inputs = nullptr,
    .num_inputs = 0,
    .output_type = "",
    .create = nullptr};
}  // namespace
BIASLAB_PLUGIN(kPlugin)
