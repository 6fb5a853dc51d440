#include "biaslab/version.hpp"

namespace biaslab {
namespace detail {
extern const char* const kGitSha;  // git_sha.cpp, written at build time (cmake/WriteGitSha.cmake)
}
const char* version() { return BIASLAB_VERSION; }
const char* git_sha() { return detail::kGitSha; }
}  // namespace biaslab
