#pragma once
// The plugin SDK. A plugin is a shared library that exports exactly one PluginDescriptor through
// BIASLAB_PLUGIN(descriptor). The host reads abi_version first and refuses any mismatch before it
// touches another field, loads with RTLD_NOW, and keeps every library loaded for the lifetime of
// the process (no unloading mid-run), so objects a plugin made can never outlive its code.
//
//   static const biaslab::InputPort kInputs[] = {{"models", "model", 1, -1, "models to score"}};
//   static const biaslab::PluginDescriptor kPlugin = {
//       .abi_version = biaslab::kPluginAbiVersion, .name = "metric.example", .version = "1.0.0",
//       .kind = biaslab::PluginKind::metric, .summary = "...",
//       .params_schema = R"({"type": "object", "properties": {...}})",
//       .inputs = kInputs, .num_inputs = 1, .output_type = "results",
//       .create = [] { return std::unique_ptr<biaslab::Operator>(new MyOperator); }};
//   BIASLAB_PLUGIN(kPlugin)
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include <boost/dll/alias.hpp>

#include "biaslab/export.hpp"
#include "biaslab/node_context.hpp"

namespace biaslab {

// Bump on any change to PluginDescriptor, InputPort, Operator, NodeContext, Artifact or the
// row types. Host and plugin must agree exactly.
inline constexpr std::uint32_t kPluginAbiVersion = 2;

enum class PluginKind : std::uint32_t { source = 0, transform = 1, metric = 2, sink = 3 };

BIASLAB_API std::string_view to_string(PluginKind kind);

// One named input of a plugin. `min`/`max` count the artifacts bound to it (max -1: unbounded).
// The first port is the primary one: a node's `input = "x"` / `inputs = ["x", "y"]` binds to it;
// other ports are bound by name with `inputs = { port = "x" }`.
struct InputPort {
  const char* name;
  const char* type;         // artifact type accepted ("model", "corpus", ..., "any")
  int min;
  int max;
  const char* description;
};

// The runnable object a plugin creates for each node execution. Key function out of line (in
// biaslab_core) so its RTTI is shared across the library boundary.
class BIASLAB_API Operator {
 public:
  virtual ~Operator();
  virtual void run(NodeContext& ctx) = 0;
};

struct PluginDescriptor {
  std::uint32_t abi_version;  // must stay the first member
  const char* name;           // dotted, lower case: "<kind-ish prefix>.<method>", e.g. "compress.rtn"
  const char* version;        // the plugin's own version; part of every cache key it produces
  PluginKind kind;
  const char* summary;        // one line for `biaslab plugins`
  const char* params_schema;  // JSON Schema draft-07 of the node parameters (object, with defaults)
  const InputPort* inputs;
  std::size_t num_inputs;
  const char* output_type;    // artifact type produced ("" for none)
  std::unique_ptr<Operator> (*create)();
  // Optional: nullptr or a function returning nullptr when the plugin can run here, else a
  // reason ("built without CUDA"), shown by `biaslab plugins` and at plan time.
  const char* (*unsupported_reason)() = nullptr;
  // Optional: what the node's output depends on besides its parameters, computed at plan time
  // and made part of the node's cache key, e.g. {"weights": <fingerprint of a model folder>} or
  // {"commit": <the Hub commit a branch resolves to>}. Each top-level member is one thing that
  // can change ("weights of 'model' changed"). Called with the validated parameters (defaults
  // filled); throws std::exception with a message for the user when the input is unusable (a
  // folder that does not exist). Must be thread-safe and should cache its own work.
  nlohmann::json (*key_inputs)(const nlohmann::json& params) = nullptr;
};

}  // namespace biaslab

// Exports `descriptor` (a PluginDescriptor with static storage) as the plugin's entry point.
// Use once per plugin, at global namespace scope.
#define BIASLAB_PLUGIN(descriptor)                                                          \
  static const ::biaslab::PluginDescriptor* biaslab_plugin_entry_fn() { return &(descriptor); } \
  BOOST_DLL_ALIAS(biaslab_plugin_entry_fn, biaslab_plugin)
