#include "biaslab/runtime/ops/compressed_formats.hpp"

#include <mutex>

#include "biaslab/runtime/linear.hpp"
#include "biaslab/runtime/ops/dynamic_int8_linear.hpp"
#include "biaslab/runtime/ops/weight_only_linear.hpp"

namespace biaslab::runtime::ops {

void register_compressed_formats() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_linear_format("dynamic_int8", &DynamicInt8Linear::load);
    register_linear_format("weight_only", &WeightOnlyLinear::load);
  });
}

}  // namespace biaslab::runtime::ops
