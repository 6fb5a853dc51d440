// Weak fallbacks for sub-commands whose implementation lives in an optional area of the tree;
// a real definition (strong symbol) in another file replaces each of them at link time.
#include <iostream>

#include "cli/commands.hpp"

namespace biaslab::cli {

namespace {
int unavailable(const char* name) {
  std::cerr << "biaslab " << name << ": not available in this build\n";
  return 2;
}
}  // namespace

__attribute__((weak)) int cmd_results(const Args&, const GlobalOptions&) { return unavailable("results"); }
__attribute__((weak)) int cmd_data(const Args&, const GlobalOptions&) { return unavailable("data"); }
__attribute__((weak)) int cmd_tokenize(const Args&, const GlobalOptions&) { return unavailable("tokenize"); }
__attribute__((weak)) int cmd_score(const Args&, const GlobalOptions&) { return unavailable("score"); }
__attribute__((weak)) int cmd_model(const Args&, const GlobalOptions&) { return unavailable("model"); }

}  // namespace biaslab::cli
