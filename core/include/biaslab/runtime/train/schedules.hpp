#pragma once
// Learning-rate and checkpoint schedules of a training run. Torch-free.
//
// Steps count optimizer updates: checkpoint "step N" holds the weights after N updates, so step 0
// is the initialisation (as Pythia's step0 revision).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "biaslab/export.hpp"

namespace biaslab::runtime::train {

// Linear warm-up from 0 to peak_lr over warmup_steps updates, then cosine decay to
// min_lr_ratio * peak_lr at total_steps (GPT-NeoX / Pythia style; Pythia decays to 10%).
struct BIASLAB_API LearningRateSchedule {
  double peak_lr = 1e-3;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 1;
  double min_lr_ratio = 0.1;

  // Learning rate of update number `step` (0-based: the update that produces checkpoint step + 1).
  // Warm-up: peak * (step + 1) / warmup; decay: min + (peak - min) * (1 + cos(pi * p)) / 2 with
  // p = (step - warmup) / (total - warmup), clamped to [0, 1].
  double at(std::int64_t step) const;
};

// Which steps of a run of `total_steps` updates are saved as checkpoints.
struct BIASLAB_API CheckpointSchedule {
  // Pythia's schedule: 0, 1, 2, 4, ..., 512 (log-spaced) and then every `every` steps.
  bool log_spaced = true;
  std::int64_t every = 1000;  // 0: no linear part
  std::vector<std::int64_t> extra_steps;
  // Fractions of training in [0, 1]; fraction f is step round(f * total_steps).
  std::vector<double> fractions;

  // Sorted, unique steps in [0, total_steps]; total_steps is always included (the final model).
  std::vector<std::int64_t> steps(std::int64_t total_steps) const;
  // fraction -> step, for the fractions listed.
  std::map<double, std::int64_t> fraction_steps(std::int64_t total_steps) const;
};

// "step512": the member name of a checkpoint inside a training run's artifact.
BIASLAB_API std::string checkpoint_name(std::int64_t step);
// "frac0.25": alias of the checkpoint at a fraction of training (number as JSON writes it, so a
// pipeline's "pretrain:frac${f}" finds it).
BIASLAB_API std::string fraction_name(double fraction);

}  // namespace biaslab::runtime::train
