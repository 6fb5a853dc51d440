#pragma once
// A run's results placed on the study's axes: every result row with its pretraining step, model
// size and facet, which metrics are bias scores and which is the LM score, and the trade-off
// point of each model line. Everything the renderers draw comes from here.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/report.hpp"
#include "biaslab/results_db.hpp"

namespace biaslab::report::detail {

// A metric as emitted by one node (two nodes may emit the same metric, e.g. CrowS-Pairs on the
// real data and on planted probes).
struct MetricKey {
  std::string node;
  std::string metric;
  auto operator<=>(const MetricKey&) const = default;
};

struct Point {
  std::size_t cell = 0;
  MetricKey key;
  std::string model;     // model label (producer node): "pretrain", "int8", ...
  std::string category;
  double value = 0.0;
  std::optional<double> ci_low, ci_high;
  std::optional<std::int64_t> n;
  nlohmann::json extra;
  double step = 0.0;          // position on the step axis (ordinal index when not numeric)
  std::string step_label;     // "" without a step axis
  std::string size_label;     // "" without a size axis
  std::string facet;          // size and the other grid variables: "size=small, seed=1"
  std::string others;         // the other grid variables only: "seed=1"
  // .diff rows: extra.permutation_p adjusted across the run's comparisons (Study::correction);
  // nullopt without a p-value.
  std::optional<double> p_adjusted;
};

struct TradeOff {
  double step = 0.0;
  std::string step_label;
  double lm_value = 0.0;
};

struct Study {
  std::string pipeline_name;
  std::string run_status;
  Axes axes;
  bool step_numeric = true;        // false: ordinal positions with labelled tics
  std::string step_title;          // x-axis title
  std::vector<std::string> step_labels;   // in axis order
  std::vector<std::string> size_labels;   // in axis order
  std::map<std::string, double> size_params;  // label -> parameter count (all or none)
  std::vector<std::string> facets;        // in cell order
  std::vector<std::string> models;        // labels in order of first appearance (base first)
  std::vector<Point> points;              // non-.diff rows
  std::vector<Point> diffs;               // "<metric>.diff" rows (key.metric without ".diff")
  std::vector<Point> noise_floors;        // "<metric>.noise_floor" rows (base model vs itself)
  Correction correction = Correction::bh;
  double alpha = 0.05;
  std::size_t comparisons = 0;            // diffs with a permutation p-value: the correction's n
  std::vector<MetricKey> bias_metrics;    // shown, in order
  std::optional<MetricKey> lm_metric;     // LM score for the trade-off and the scatter
  bool lm_higher_better = true;
  std::map<std::pair<std::string, std::string>, TradeOff> tradeoffs;  // (facet, model)
  std::vector<std::string> notes;

  std::string metric_title(const MetricKey& k) const;  // "metric" or "metric [node]"
  std::size_t model_index(const std::string& model) const;
  bool significant(const Point& diff) const { return diff.p_adjusted && *diff.p_adjusted < alpha; }
};

Study load_study(const results::ResultsDatabase& db, const ReportOptions& options);

// Headline bias metrics shown by default, with the value of an unbiased model (NaN: none).
double ideal_value(const std::string& metric);
bool is_default_bias_metric(const std::string& metric);

}  // namespace biaslab::report::detail
