#pragma once
// A synthetic mini-study with known numbers, written through the results database API: two
// sizes ({name = "small"/"base"} tables, like pipelines/quickstart.toml) x four checkpoints
// (frac0.2 .. frac1.0) x two models (base "pretrain", compressed "int8"), scored by a "crows"
// node (crows_pairs.metric_score: overall, gender, race, with .diff rows) and a "stereoset"
// node (stereoset.ss and the LM score stereoset.lms). Values (size s, step k, model m):
//   crows overall  = 50 + 2k + 3s + 1.5m, CI = value -+ 2; gender = overall + 5; race = overall - 5
//   int8 diff rows = 1.5, CI [0.5, 2.5], permutation_p: overall 0.0312, gender 0.5, race 0.001
//   stereoset.ss   = 55 + k - s + 0.5m
//   stereoset.lms  = kLms[s][m][k] below: trade-off (max LMS) small/pretrain frac0.4,
//                    small/int8 frac0.7, base/pretrain frac1.0, base/int8 frac0.2
#include <filesystem>

namespace biaslab::test {

inline constexpr double kLms[2][2][4] = {{{80, 90, 85, 84}, {79, 83, 88, 87}},
                                         {{81, 82, 83, 95}, {92, 85, 86, 88}}};

// Creates run_dir (removing what was there) and writes run_dir/results.sqlite.
void write_mini_study(const std::filesystem::path& run_dir);

// One cell (no grid), node "crows": base "fp32", compressed "int8" and "nf4", categories overall,
// gender, race, religion, in the row format of the noise-floor contract (docs/reports.md):
//   fp32 = kFloorBase[c]; int8 = fp32 + 0.5; nf4 = fp32 + 3; n = 200
//   .diff rows: value 0.5 / 3.0, permutation_p kFloorP[model][c], flips {3, 2, total 5} (int8) and
//     {4, 16, total 20} (nf4), noise_floor {difference 0.8, flips 6, max_abs_item_change 0.012,
//     n 200}, exceeds_noise_floor false (int8) / true (nf4)
//   crows_pairs.metric_score.noise_floor rows (model fp32, each category): value 0.8, flips total 6,
//     permutation_p 0.7, max_abs_item_change 0.012, computation {batch_size 7, threads 2}
// With noise_floor = false the .diff rows carry no noise-floor fields and there are no floor rows
// (a run from before noise floors).
inline constexpr double kFloorBase[4] = {60, 62, 58, 65};
inline constexpr double kFloorP[2][4] = {{0.004, 0.03, 0.2, 0.01}, {0.04, 0.6, 0.002, 0.9}};
void write_noise_floor_study(const std::filesystem::path& run_dir, bool noise_floor = true);

// A fresh empty folder under the test binary dir (or /tmp).
std::filesystem::path fresh_dir(const std::string& name);

}  // namespace biaslab::test
