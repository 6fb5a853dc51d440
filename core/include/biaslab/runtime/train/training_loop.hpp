#pragma once
// The optimisation loop shared by pretraining and distillation: AdamW with decoupled weight decay
// on matrices and embeddings only (not biases or LayerNorm gains), linear warm-up + cosine decay,
// global gradient-norm clipping, checkpoints on a schedule, and resumable state.
//
// Determinism: the model is initialised after torch::manual_seed(seed); batches are a function of
// (seed, step); nothing else draws random numbers. With the same seed and thread count two runs
// write bit-identical checkpoints, and a run resumed from its saved state equals an
// uninterrupted one bit for bit.
//
// Work directory layout (a node's scratch_dir()):
//   state/            model.safetensors, optimizer.pt, state.json  (latest resumable state)
//   checkpoints/stepN HF model directories written so far
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "biaslab/export.hpp"
#include "biaslab/runtime/train/lm_module.hpp"
#include "biaslab/runtime/train/schedules.hpp"
#include "biaslab/runtime/train/token_data.hpp"

namespace biaslab::runtime::train {

struct BIASLAB_API OptimizerOptions {
  std::int64_t max_steps = 300;
  std::int64_t batch_size = 16;
  double lr = 1e-3;
  double min_lr_ratio = 0.1;
  std::int64_t warmup_steps = 3;
  double weight_decay = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double grad_clip = 1.0;  // <= 0: no clipping
};

struct BIASLAB_API LoopOptions {
  OptimizerOptions optimizer;
  CheckpointSchedule checkpoints;
  std::uint64_t seed = 0;
  std::int64_t save_state_every = 100;  // also saved at every checkpoint
  std::int64_t log_every = 50;          // loss-curve points (mean training loss since the last one)
  std::int64_t validation_batches = 8;  // batches of the validation stream per evaluation (0: none)
  // Testing aid: stop (state saved) after this many steps, as if the run had been interrupted.
  std::optional<std::int64_t> stop_after_steps;
};

struct BIASLAB_API LossParts {
  torch::Tensor total;                    // scalar to minimise
  std::map<std::string, double> parts;    // e.g. {"kl": ..., "lm": ..., "cos": ...} for the log
};

struct BIASLAB_API CurvePoint {
  std::int64_t step = 0;     // after this many updates
  double train_loss = 0;     // mean over the steps since the previous point
  std::map<std::string, double> parts;
};

struct BIASLAB_API CheckpointInfo {
  std::int64_t step = 0;
  std::filesystem::path dir;
  std::int64_t tokens_seen = 0;
  std::optional<double> train_loss;               // mean over the steps since the previous checkpoint
  std::map<std::string, double> validation;       // evaluation metrics (e.g. "loss", "kl")
};

struct BIASLAB_API LoopResult {
  bool completed = false;  // false: stopped by stop_after_steps or cancellation (state saved)
  std::int64_t steps_done = 0;
  std::vector<CurvePoint> curve;
  std::vector<CheckpointInfo> checkpoints;  // in step order, all of the run (resumed ones too)
  double train_seconds = 0;                 // optimisation time of this invocation
  std::int64_t train_tokens = 0;            // tokens processed by this invocation
  double tokens_per_second() const { return train_seconds > 0 ? static_cast<double>(train_tokens) / train_seconds : 0; }
};

struct BIASLAB_API LoopHooks {
  std::function<void(double fraction, const std::string& what)> progress;
  std::function<bool()> cancelled;
  std::function<void(const std::string& message)> log;
  // Writes extra files (tokenizer) into a checkpoint directory after the model is saved.
  std::function<void(const std::filesystem::path& checkpoint_dir)> decorate_checkpoint;
};

// The training objective: loss of a training batch, and evaluation metrics over validation data.
struct BIASLAB_API Objective {
  std::function<LossParts(TrainableLM& model, const Batch& batch)> loss;
  // Metrics (at least "loss") over the validation batches; empty map when there is no data.
  std::function<std::map<std::string, double>(TrainableLM& model)> evaluate;
  // Tokens per training batch, for throughput.
  std::int64_t tokens_per_batch = 0;
};

// Runs or resumes the loop in work_dir. `model` is freshly initialised (it is overwritten by the
// saved state when resuming); `fingerprint` identifies the run's configuration and data: a saved
// state with another fingerprint is discarded.
BIASLAB_API LoopResult run_training_loop(TrainableLM& model, const BatchSource& train_data, const Objective& objective,
                                         const LoopOptions& options, const std::filesystem::path& work_dir,
                                         const std::string& fingerprint, const LoopHooks& hooks = {});

// Cross-entropy of a batch (mean over labelled positions; logits [B,T,V], labels [B,T]).
BIASLAB_API torch::Tensor lm_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels);

// The plain language-modelling objective (causal or masked, by the batch labels), with validation
// loss over `validation` (nullptr: no evaluation).
BIASLAB_API Objective language_modeling_objective(const BatchSource* validation, std::int64_t batch_size,
                                                  std::int64_t validation_batches, std::int64_t seq_len);

}  // namespace biaslab::runtime::train
