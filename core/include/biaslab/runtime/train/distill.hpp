#pragma once
// Knowledge distillation (Sanh et al. 2019, DistilBERT): a student learns from a teacher's
// temperature-softened output distribution, the language-modelling objective and the teacher's
// last hidden states. Loss per training batch:
//
//   alpha * T^2 * KL(softmax(t/T) || softmax(s/T))   (mean over the batch's token positions,
//                                                     i.e. KLDivLoss(reduction="batchmean") over
//                                                     rows, as DistilBERT's distiller)
// + beta  * LM cross-entropy                          (MLM for masked, next-token for causal LMs)
// + gamma * (1 - cos(h_s, h_t))                       (mean over positions of the last hidden
//                                                     state, CosineEmbeddingLoss with target 1)
//
// DistilBERT used alpha 5, beta 2, gamma 1, T 2. The teacher runs through the inference runtime
// (any architecture it loads, compressed kernels included); the student is a GPT-NeoX (causal
// teachers) or BERT/RoBERTa (masked teachers) TrainableLM, initialised from a subset of the
// teacher's layers (same family only; DistilBERT took layers 0, 2, 4, 7, 9, 11 of 12) or randomly
// from a smaller config.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/export.hpp"
#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/train/corpus.hpp"
#include "biaslab/runtime/train/training_loop.hpp"

namespace biaslab::runtime::train {

struct BIASLAB_API DistillConfig {
  std::string student_init = "teacher_layers";  // teacher_layers | random
  std::vector<std::int64_t> teacher_layers;     // teacher_layers: empty = evenly spread half
  // random init (0: from the teacher: half its layers, its hidden size and heads, 4 x hidden)
  std::int64_t num_layers = 0;
  std::int64_t hidden_size = 0;
  std::int64_t num_heads = 0;
  std::int64_t intermediate_size = 0;
  double alpha_kl = 5.0;
  double beta_lm = 2.0;
  double gamma_cos = 1.0;
  double temperature = 2.0;
  std::int64_t seq_len = 64;
  double mlm_probability = 0.15;
  // Without a corpus (causal teachers only): sequences of seq_len tokens sampled from the teacher.
  std::int64_t teacher_samples = 512;
  LoopOptions loop;

  nlohmann::json to_json() const;
};

struct BIASLAB_API DistillRun {
  LoopResult loop;
  std::filesystem::path work_dir;
  nlohmann::json student_config;
  std::vector<std::int64_t> teacher_layers;  // layers the student was initialised from (if any)
  std::int64_t teacher_parameters = 0;
  std::int64_t student_parameters = 0;
  std::string data_source;                   // "corpus" or "teacher samples"
};

// The loss of one batch. Rows are all token positions (the batches have no padding); kl is already
// multiplied by T^2; cos is 0 (undefined tensors allowed) when gamma is 0.
struct BIASLAB_API DistillLossTerms {
  torch::Tensor total, kl, lm, cos;
};
BIASLAB_API DistillLossTerms distillation_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                                               const torch::Tensor& student_hidden, const torch::Tensor& teacher_hidden,
                                               const torch::Tensor& labels, double alpha, double beta, double gamma,
                                               double temperature);

// The DistilBERT layer choice generalised: n layers spread evenly over 0..L-1 (rounded).
BIASLAB_API std::vector<std::int64_t> spread_layers(std::int64_t teacher_layers, std::int64_t student_layers);

// Trains (or resumes) a student in work_dir. corpus may be nullptr for causal teachers.
BIASLAB_API DistillRun distill(const LanguageModel& teacher, const DistillConfig& config, const CorpusReader* corpus,
                               const std::filesystem::path& work_dir, const LoopHooks& hooks = {});

// Writes the final student (config.json, model.safetensors, tokenizer files) and artifact.json
// (teacher and student sizes, loss curve, validation KL before and after) into output_dir.
BIASLAB_API void publish_distill_run(const DistillRun& run, const std::filesystem::path& output_dir,
                                     const nlohmann::json& extra_meta = nlohmann::json::object());

}  // namespace biaslab::runtime::train
