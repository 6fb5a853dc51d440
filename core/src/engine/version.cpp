#include "biaslab/version.hpp"

namespace biaslab {
const char* version() { return BIASLAB_VERSION; }
const char* git_sha() { return BIASLAB_GIT_SHA; }
}  // namespace biaslab
