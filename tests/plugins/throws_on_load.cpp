// A broken plugin library: its static initialiser throws while the library is being loaded (as a
// plugin computing its parameter schema at load time would on a bug). The registry must record
// the error naming the file and go on.
#include <stdexcept>
#include <string>

namespace {
std::string fail_at_load() { throw std::logic_error("params_schema: property 'x' has no 'type'"); }
const std::string kNeverBuilt = fail_at_load();
}  // namespace
