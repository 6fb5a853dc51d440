#pragma once
// tables.tex: LaTeX tables in the layout of Goncalves & Strubell (2023), Tables 1-4 -- rows are
// model size / checkpoint, columns the benchmark scores of the base model next to each
// compressed one. Needs \usepackage{booktabs}.
#include <string>

#include "report/study.hpp"

namespace biaslab::report::detail {

std::string render_latex(const Study& study);

// Escapes LaTeX's special characters (& % $ # _ { } ~ ^ \) in text.
std::string latex_escape(const std::string& text);

}  // namespace biaslab::report::detail
