#pragma once
#include "biaslab/export.hpp"

namespace biaslab {
BIASLAB_API const char* version();  // "0.1.0"
BIASLAB_API const char* git_sha();  // commit biaslab was configured from, or "unknown"
}  // namespace biaslab
