#pragma once
// Problems found in user input, each tied to where it was written. Validation collects every
// problem before reporting, so a user fixes a pipeline file in one pass.
#include <algorithm>
#include <cstdint>
#include <tuple>
#include <stdexcept>
#include <string>
#include <vector>

#include "biaslab/export.hpp"

namespace biaslab {

struct SourceLocation {
  std::string file;       // path as the user gave it, or "<command line>"
  std::uint32_t line = 0;  // 1-based; 0 when unknown
  std::uint32_t column = 0;
};

struct Diagnostic {
  SourceLocation where;
  std::string message;
};

// "file:line:col: error: message" (line/col omitted when unknown), as compilers print it.
BIASLAB_API std::string format_diagnostic(const Diagnostic& d);

// Thrown with every problem found; what() holds them all, one per line.
class BIASLAB_API DiagnosticError : public std::runtime_error {
 public:
  explicit DiagnosticError(std::vector<Diagnostic> diagnostics);
  ~DiagnosticError() override;
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

class DiagnosticSink {
 public:
  void error(SourceLocation where, std::string message) {
    for (const auto& d : diagnostics_)
      if (d.message == message && d.where.line == where.line && d.where.column == where.column &&
          d.where.file == where.file)
        return;  // the same problem found again in another grid cell
    diagnostics_.push_back({std::move(where), std::move(message)});
  }
  bool empty() const { return diagnostics_.empty(); }
  // Throws every problem, in file order (command-line problems first).
  void throw_if_any() const {
    if (diagnostics_.empty()) return;
    auto sorted = diagnostics_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const Diagnostic& a, const Diagnostic& b) {
      return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
    });
    throw DiagnosticError(std::move(sorted));
  }
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

// "did you mean 'x'?" helper: closest candidate by edit distance, or "" if none is close.
BIASLAB_API std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace biaslab
