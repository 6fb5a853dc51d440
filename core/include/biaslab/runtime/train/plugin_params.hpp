#pragma once
// Reading the training parameters source.pretrain and compress.distill share (validated node
// parameters with defaults filled in) into LoopOptions.
//   max_steps, batch_size, lr, min_lr_ratio, warmup_fraction, weight_decay, beta1, beta2, eps,
//   grad_clip, save_state_every, log_every, validation_batches
// and, when present, checkpoint_schedule ("pythia" | "final"), checkpoint_every,
// checkpoint_steps, checkpoint_fractions.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "biaslab/export.hpp"
#include "biaslab/runtime/train/training_loop.hpp"

namespace biaslab::runtime::train {

BIASLAB_API LoopOptions loop_options_from_params(const nlohmann::json& params, std::uint64_t seed);

}  // namespace biaslab::runtime::train
