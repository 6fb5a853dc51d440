#pragma once
// Registers the compressed kernel formats with register_linear_format() so that models saved with
// compressed layers reload: "dynamic_int8" (DynamicInt8Linear) and "weight_only"
// (WeightOnlyLinear). Pruned layers are plain "float" layers. Safe to call any number of times
// from any thread; the registration runs once.
#include "biaslab/export.hpp"

namespace biaslab::runtime::ops {

BIASLAB_API void register_compressed_formats();

}  // namespace biaslab::runtime::ops
