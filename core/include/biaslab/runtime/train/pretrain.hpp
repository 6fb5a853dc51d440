#pragma once
// Pretraining a small GPT-NeoX causal LM or BERT masked LM from a corpus artifact, with
// checkpoints on a schedule, resumable from its work directory. What source.pretrain runs.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/export.hpp"
#include "biaslab/runtime/train/corpus.hpp"
#include "biaslab/runtime/train/training_loop.hpp"

namespace biaslab::runtime::train {

struct BIASLAB_API PretrainConfig {
  std::string architecture = "gpt_neox";  // gpt_neox (causal) | bert (masked)
  std::int64_t num_layers = 2;
  std::int64_t hidden_size = 64;
  std::int64_t num_heads = 4;
  std::int64_t intermediate_size = 0;        // 0: 4 x hidden_size
  double rotary_pct = 0.25;                  // gpt_neox
  std::int64_t max_position_embeddings = 0;  // 0: 2048 (gpt_neox), max(512, seq_len) (bert)
  std::int64_t seq_len = 64;
  // "byte": byte-level tokenizer; "bpe": byte-level BPE trained on the training split; anything
  // else: a tokenizer.json file or a directory holding tokenizer files.
  std::string tokenizer = "byte";
  std::size_t bpe_vocab_size = 512;
  double mlm_probability = 0.15;  // bert
  LoopOptions loop;

  // Every option as JSON (the run's fingerprint and provenance).
  nlohmann::json to_json() const;
};

struct BIASLAB_API PretrainRun {
  LoopResult loop;
  std::filesystem::path work_dir;
  std::filesystem::path tokenizer_dir;  // work_dir/tokenizer
  nlohmann::json model_config;          // HF config.json of the trained model
  std::int64_t parameters = 0;
  std::int64_t non_embedding_parameters = 0;
  std::int64_t corpus_train_tokens = 0;
  std::int64_t corpus_validation_tokens = 0;
};

// Trains (or resumes training) in work_dir. Sets torch's thread count only through the caller.
BIASLAB_API PretrainRun pretrain(const PretrainConfig& config, const CorpusReader& corpus,
                                 const std::filesystem::path& work_dir, const LoopHooks& hooks = {});

// Lays out a finished run as a model artifact in output_dir (which must exist): one HF model
// directory per checkpoint ("step<N>", moved from the work directory), "frac<f>" and "final"
// relative symlinks to them, the final model's files at the top level (so the directory itself
// loads as the trained model), and artifact.json describing the collection plus `extra_meta`.
BIASLAB_API void publish_training_run(const PretrainRun& run, const LoopOptions& options,
                                      const std::filesystem::path& output_dir,
                                      const nlohmann::json& extra_meta = nlohmann::json::object());

}  // namespace biaslab::runtime::train
