#pragma once
// Views of a results database: CSV and JSON with full precision (one record per row, the
// cell's grid values flattened into grid.<var> columns), and human-readable aligned text and
// Markdown tables with rounded numbers.
//
// Results columns (CSV/JSON):  cell, grid.<var>..., node, plugin, model, metric, category,
//                              value, ci_low, ci_high, n, extra
// Examples columns (CSV/JSON): cell, grid.<var>..., node, plugin, model, metric, example_id,
//                              values
// Numbers are written as the shortest text that reads back exactly; missing values are empty
// (CSV) or null (JSON); non-finite values are NaN/Inf/-Inf (CSV) and "NaN"/"Infinity"/
// "-Infinity" (JSON). extra/values are JSON text in CSV and objects in JSON.
#include <filesystem>
#include <string>
#include <string_view>

#include "biaslab/export.hpp"
#include "biaslab/results_db.hpp"

namespace biaslab::results {

enum class Format { table, csv, json, markdown };
enum class RowKind { results, examples };

// "table", "csv", "json", "md" or "markdown"; throws std::invalid_argument otherwise.
BIASLAB_API Format format_from_string(std::string_view name);

// A number as the human-readable tables print it (and `biaslab report`): 4 decimals, integers of
// 1000 and more in full, scientific outside [1e-4, 1e6), NaN / Inf / -Inf. CSV and JSON carry the
// exact values.
BIASLAB_API std::string format_display_number(double v);

BIASLAB_API std::string render(const ResultsDatabase& db, Format format,
                               RowKind kind = RowKind::results, const ResultFilter& filter = {});

inline constexpr std::string_view kResultsCsvFileName = "results.csv";
inline constexpr std::string_view kResultsJsonFileName = "results.json";

// Writes <run_dir>/results.csv and <run_dir>/results.json (all result rows), each atomically.
BIASLAB_API void write_exports(const ResultsDatabase& db, const std::filesystem::path& run_dir);

}  // namespace biaslab::results
