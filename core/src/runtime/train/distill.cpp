#include "biaslab/runtime/train/distill.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "biaslab/runtime/train/bert_masked_lm.hpp"
#include "biaslab/runtime/train/deterministic_random.hpp"
#include "biaslab/runtime/train/gpt_neox_lm.hpp"
#include "biaslab/runtime/train/tokenizer_builder.hpp"
#include "runtime/train/file_util.hpp"
#include "runtime/train/run_support.hpp"

namespace biaslab::runtime::train {

namespace fs = std::filesystem;
using nlohmann::json;
using torch::Tensor;

namespace {

constexpr std::uint64_t kSampleStream = 0x73616d706c65ULL;  // "sample"

// The teacher's outputs as ordinary (autograd-usable) tensors: logits [B,T,V], last hidden [B,T,H].
std::pair<Tensor, Tensor> teacher_outputs(const LanguageModel& teacher, const Tensor& ids) {
  Tensor hidden, logits;
  {
    c10::InferenceMode guard;
    hidden = teacher.hidden_states(ids);
    logits = teacher.logits_from_hidden(hidden);
  }
  return {logits.to(torch::kCPU).clone(), hidden.to(torch::kCPU).clone()};
}

// Mean over rows of KL(softmax(t/T) || softmax(s/T)), rows = token positions.
Tensor kl_divergence(const Tensor& student_logits, const Tensor& teacher_logits, double temperature) {
  const auto V = student_logits.size(-1);
  auto log_ps = torch::log_softmax(student_logits.reshape({-1, V}) / temperature, -1);
  auto log_pt = torch::log_softmax(teacher_logits.reshape({-1, V}) / temperature, -1);
  return (log_pt.exp() * (log_pt - log_ps)).sum() / static_cast<double>(log_ps.size(0));
}

Tensor cosine_loss(const Tensor& student_hidden, const Tensor& teacher_hidden) {
  const auto H = student_hidden.size(-1);
  auto s = student_hidden.reshape({-1, H});
  auto t = teacher_hidden.reshape({-1, H});
  return torch::nn::functional::cosine_embedding_loss(s, t, torch::ones({s.size(0)}));
}

// A teacher tensor by HF name: linear layers through their kernel (dequantized if compressed).
class TeacherTensors {
 public:
  explicit TeacherTensors(const LanguageModel& teacher) : teacher_(teacher), state_(teacher.state_dict()) {
    for (auto* l : teacher.linear_layers(true)) linears_.insert(l->name());
  }
  Tensor get(const std::string& name) const {
    for (const std::string suffix : {".weight", ".bias"}) {
      if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        const auto slot = name.substr(0, name.size() - suffix.size());
        if (linears_.count(slot)) {
          const auto& kernel = teacher_.linear(slot).kernel();
          if (suffix == ".weight") return kernel->weight();
          if (auto b = kernel->bias()) return *b;
          throw std::runtime_error("teacher layer '" + slot + "' has no bias");
        }
      }
    }
    auto it = state_.find(name);
    if (it == state_.end()) throw std::runtime_error("teacher " + teacher_.architecture() + " has no tensor '" + name + "'");
    return it->second;
  }

 private:
  const LanguageModel& teacher_;
  std::map<std::string, Tensor> state_;
  std::set<std::string> linears_;
};

// Student tensor name -> teacher tensor name, with layer j of the student taken from layers[j].
std::string teacher_name(const std::string& student_name, const std::string& layer_prefix,
                         const std::vector<std::int64_t>& layers) {
  if (student_name.rfind(layer_prefix, 0) != 0) return student_name;
  const auto rest = student_name.substr(layer_prefix.size());
  const auto dot = rest.find('.');
  const auto j = std::stoll(rest.substr(0, dot));
  return layer_prefix + std::to_string(layers.at(static_cast<std::size_t>(j))) + rest.substr(dot);
}

// Ancestral sampling from a causal teacher: n sequences of `length` tokens after the separator.
std::vector<std::int32_t> sample_from_teacher(const LanguageModel& teacher, std::int64_t n, std::int64_t length,
                                              std::int64_t separator, std::int64_t vocab, std::uint64_t seed,
                                              std::uint64_t index) {
  std::vector<std::int32_t> stream;
  auto rng = make_generator(seed, kSampleStream, index);
  constexpr std::int64_t kChunk = 64;
  for (std::int64_t start = 0; start < n; start += kChunk) {
    const auto rows = std::min(kChunk, n - start);
    auto ids = torch::full({rows, 1}, separator, torch::kLong);
    for (std::int64_t t = 0; t < length; ++t) {
      Tensor probs;
      {
        c10::InferenceMode guard;
        probs = torch::softmax(teacher.forward(ids).select(1, -1).to(torch::kCPU, torch::kFloat64), -1)
                    .narrow(-1, 0, vocab)
                    .contiguous();
      }
      auto next = torch::empty({rows, 1}, torch::kLong);
      auto p = probs.accessor<double, 2>();
      for (std::int64_t r = 0; r < rows; ++r) {
        double total = 0;
        for (std::int64_t v = 0; v < vocab; ++v) total += p[r][v];
        const double u = uniform01(rng) * total;
        double cum = 0;
        std::int64_t pick = vocab - 1;
        for (std::int64_t v = 0; v < vocab; ++v) {
          cum += p[r][v];
          if (u < cum) {
            pick = v;
            break;
          }
        }
        next[r][0] = pick;
      }
      ids = torch::cat({ids, next}, 1);
    }
    auto a = ids.accessor<std::int64_t, 2>();
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t t = 0; t <= length; ++t) stream.push_back(static_cast<std::int32_t>(a[r][t]));
    }
  }
  return stream;
}

}  // namespace

nlohmann::json DistillConfig::to_json() const {
  return {{"student_init", student_init},   {"teacher_layers", teacher_layers}, {"num_layers", num_layers},
          {"hidden_size", hidden_size},     {"num_heads", num_heads},           {"intermediate_size", intermediate_size},
          {"alpha_kl", alpha_kl},           {"beta_lm", beta_lm},               {"gamma_cos", gamma_cos},
          {"temperature", temperature},     {"seq_len", seq_len},               {"mlm_probability", mlm_probability},
          {"teacher_samples", teacher_samples}, {"loop", loop_options_json(loop)}};
}

std::vector<std::int64_t> spread_layers(std::int64_t teacher_layers, std::int64_t student_layers) {
  if (student_layers < 1 || student_layers > teacher_layers) {
    throw std::invalid_argument("a student of " + std::to_string(student_layers) + " layers cannot be taken from " +
                                std::to_string(teacher_layers) + " teacher layers");
  }
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < student_layers; ++i) {
    out.push_back(student_layers == 1 ? 0
                                      : static_cast<std::int64_t>(std::llround(static_cast<double>(i * (teacher_layers - 1)) /
                                                                                static_cast<double>(student_layers - 1))));
  }
  return out;
}

DistillLossTerms distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits,
                                   const Tensor& student_hidden, const Tensor& teacher_hidden, const Tensor& labels,
                                   double alpha, double beta, double gamma, double temperature) {
  DistillLossTerms t;
  t.kl = kl_divergence(student_logits, teacher_logits, temperature) * (temperature * temperature);
  t.lm = lm_cross_entropy(student_logits, labels);
  t.total = alpha * t.kl + beta * t.lm;
  if (gamma > 0) {
    t.cos = cosine_loss(student_hidden, teacher_hidden);
    t.total = t.total + gamma * t.cos;
  } else {
    t.cos = torch::zeros({});
  }
  return t;
}

DistillRun distill(const LanguageModel& teacher, const DistillConfig& config, const CorpusReader* corpus,
                   const fs::path& work_dir, const LoopHooks& hooks) {
  DistillRun run;
  run.work_dir = work_dir;
  fs::create_directories(work_dir);
  const auto& tc = teacher.config();
  const bool causal = teacher.is_causal();
  const auto vocab = tc.vocab_size;
  if (config.temperature <= 0) throw std::invalid_argument("distill: temperature must be positive");
  if (teacher.dtype() != torch::kFloat32) throw std::invalid_argument("distill: load the teacher in float32");
  if (teacher.device() != torch::Device(torch::kCPU)) throw std::invalid_argument("distill: the teacher must be on the CPU");

  const auto tokenizer = load_tokenizer(teacher.source_path());
  const auto tokens = ObjectiveTokens::from_tokenizer(*tokenizer, causal, vocab);
  const auto max_positions = tc.max_position_embeddings;
  if (config.seq_len > max_positions - (tc.architecture == Architecture::roberta ? *tc.pad_token_id + 1 : 0)) {
    throw std::invalid_argument("distill: seq_len " + std::to_string(config.seq_len) + " exceeds the teacher's " +
                                std::to_string(max_positions) + " positions");
  }

  // --- data --------------------------------------------------------------------------------------
  std::vector<std::int32_t> train_stream, validation_stream;
  if (corpus) {
    run.data_source = "corpus";
    train_stream = encode_stream(*tokenizer, corpus->documents("train"), tokens);
    validation_stream = encode_stream(*tokenizer, corpus->documents("validation"), tokens);
  } else {
    if (!causal) {
      throw std::invalid_argument("distill: a masked-LM teacher needs a corpus (bind the 'corpus' input)");
    }
    run.data_source = "teacher samples";
    if (hooks.log) hooks.log("sampling " + std::to_string(config.teacher_samples) + " training sequences from the teacher");
    const auto tokenizer_vocab = std::min<std::int64_t>(vocab, static_cast<std::int64_t>(tokenizer->vocab_size()));
    train_stream = sample_from_teacher(teacher, config.teacher_samples, config.seq_len, tokens.separator, tokenizer_vocab,
                                       config.loop.seed, 0);
    validation_stream = sample_from_teacher(teacher, std::max<std::int64_t>(8, config.teacher_samples / 8),
                                            config.seq_len, tokens.separator, tokenizer_vocab, config.loop.seed, 1);
  }
  const auto fingerprint = json{{"config", config.to_json()},
                                {"teacher", teacher.architecture()},
                                {"teacher_parameters", teacher.parameter_count()},
                                {"train_tokens", stream_digest(train_stream)},
                                {"validation_tokens", stream_digest(validation_stream)}}
                               .dump();
  BatchSource train_data(std::move(train_stream), tokens, config.seq_len, config.loop.seed, config.mlm_probability);
  std::unique_ptr<BatchSource> validation;
  const auto validation_windows =
      causal ? (static_cast<std::int64_t>(validation_stream.size()) - 1) / config.seq_len
             : static_cast<std::int64_t>(validation_stream.size()) / (config.seq_len - 2);
  if (validation_windows >= 1) {
    validation = std::make_unique<BatchSource>(std::move(validation_stream), tokens, config.seq_len, config.loop.seed,
                                               config.mlm_probability, "validation");
  }

  // --- student -----------------------------------------------------------------------------------
  torch::manual_seed(config.loop.seed);
  std::shared_ptr<TrainableLM> student;
  const bool from_teacher = config.student_init == "teacher_layers";
  if (!from_teacher && config.student_init != "random") {
    throw std::invalid_argument("distill: student_init '" + config.student_init + "' is not teacher_layers or random");
  }
  if (from_teacher) {
    const bool neox = tc.architecture == Architecture::gpt_neox;
    const bool bert = tc.architecture == Architecture::bert || tc.architecture == Architecture::roberta;
    if (!neox && !bert) {
      throw std::invalid_argument("distill: student_init = teacher_layers needs a GPT-NeoX, BERT or RoBERTa teacher, not " +
                                  teacher.architecture() + " (use student_init = random)");
    }
    run.teacher_layers = config.teacher_layers.empty()
                             ? spread_layers(tc.num_layers, (tc.num_layers + 1) / 2)
                             : config.teacher_layers;
    for (auto l : run.teacher_layers) {
      if (l < 0 || l >= tc.num_layers) {
        throw std::invalid_argument("distill: teacher layer " + std::to_string(l) + " does not exist (the teacher has " +
                                    std::to_string(tc.num_layers) + ")");
      }
    }
    auto student_json = tc.raw;
    student_json["num_hidden_layers"] = static_cast<std::int64_t>(run.teacher_layers.size());
    student_json["torch_dtype"] = "float32";
    student_json.erase("biaslab_quantization");
    student = make_trainable_lm(student_json);
    const std::string layer_prefix = neox ? "gpt_neox.layers." : (tc.architecture == Architecture::roberta ? "roberta.encoder.layer." : "bert.encoder.layer.");
    TeacherTensors source(teacher);
    std::map<std::string, Tensor> tensors;
    for (const auto& [name, _] : student->hf_state_dict()) {
      tensors.emplace(name, source.get(teacher_name(name, layer_prefix, run.teacher_layers)));
    }
    student->load_hf_state_dict(tensors, "teacher " + teacher.source_path().string());
  } else {
    const auto hidden = config.hidden_size > 0 ? config.hidden_size : tc.hidden_size;
    const auto heads = config.num_heads > 0 ? config.num_heads : (hidden % tc.num_heads == 0 ? tc.num_heads : 1);
    const auto layers = config.num_layers > 0 ? config.num_layers : std::max<std::int64_t>(1, tc.num_layers / 2);
    const auto intermediate = config.intermediate_size > 0 ? config.intermediate_size : 4 * hidden;
    if (causal) {
      GptNeoxConfig c;
      c.vocab_size = vocab;
      c.hidden_size = hidden;
      c.num_heads = heads;
      c.num_layers = layers;
      c.intermediate_size = intermediate;
      c.rotary_pct = tc.architecture == Architecture::gpt_neox ? tc.rotary_fraction : 0.25;
      c.max_position_embeddings = max_positions;
      c.bos_token_id = tokenizer->bos_id().value_or(tokens.separator);
      c.eos_token_id = tokens.separator;
      c.pad_token_id = tokenizer->pad_id();
      student = std::make_shared<GptNeoxLM>(c);
    } else {
      BertConfig c;
      c.roberta = tc.architecture == Architecture::roberta;
      c.vocab_size = vocab;
      c.hidden_size = hidden;
      c.num_heads = heads;
      c.num_layers = layers;
      c.intermediate_size = intermediate;
      c.max_position_embeddings = max_positions;
      c.type_vocab_size = std::max<std::int64_t>(1, tc.type_vocab_size);
      c.layer_norm_eps = tc.norm_eps;
      c.pad_token_id = tc.pad_token_id.value_or(tokens.pad);
      c.bos_token_id = tc.bos_token_id;
      c.eos_token_id = tc.eos_token_id;
      student = std::make_shared<BertMaskedLM>(c);
    }
  }
  if (config.gamma_cos > 0 && student->hidden_size() != tc.hidden_size) {
    throw std::invalid_argument("distill: the cosine loss compares hidden states, but the student's hidden size " +
                                std::to_string(student->hidden_size()) + " differs from the teacher's " +
                                std::to_string(tc.hidden_size) + " (set gamma = 0 or keep the hidden size)");
  }
  run.student_config = student->config_json();
  run.teacher_parameters = teacher.parameter_count();
  run.student_parameters = student->parameter_count();
  if (hooks.log) {
    hooks.log("distilling " + teacher.architecture() + " (" + std::to_string(run.teacher_parameters) + " parameters) into " +
              student->architecture() + " (" + std::to_string(run.student_parameters) + " parameters) on " + run.data_source);
  }

  // --- objective ---------------------------------------------------------------------------------
  Objective objective;
  objective.tokens_per_batch = config.loop.optimizer.batch_size * config.seq_len;
  const double T = config.temperature;
  objective.loss = [&, T](TrainableLM& model, const Batch& batch) {
    auto [t_logits, t_hidden] = teacher_outputs(teacher, batch.input_ids);
    auto out = model.forward(batch.input_ids);
    const auto terms = distillation_loss(out.logits, t_logits, out.hidden.back(), t_hidden, batch.labels, config.alpha_kl,
                                         config.beta_lm, config.gamma_cos, T);
    LossParts parts;
    parts.total = terms.total;
    parts.parts["kl"] = terms.kl.item<double>();
    parts.parts["lm"] = terms.lm.item<double>();
    if (config.gamma_cos > 0) parts.parts["cos"] = terms.cos.item<double>();
    return parts;
  };
  const auto batch_size = config.loop.optimizer.batch_size;
  const auto validation_batches = config.loop.validation_batches;
  objective.evaluate = [&, batch_size, validation_batches](TrainableLM& model) {
    std::map<std::string, double> m;
    if (!validation || validation_batches <= 0) return m;
    torch::NoGradGuard no_grad;
    double kl_sum = 0, nll = 0, teacher_nll = 0;
    std::int64_t positions = 0, labels = 0;
    auto sum_ce = [](const Tensor& logits, const Tensor& y) {
      return torch::nn::functional::cross_entropy(
                 logits.reshape({-1, logits.size(-1)}), y.reshape({-1}),
                 torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnoreLabel).reduction(torch::kSum))
          .item<double>();
    };
    for (std::int64_t i = 0; i < validation_batches; ++i) {
      auto batch = validation->evaluation_batch(i, batch_size);
      if (!batch) break;
      auto [t_logits, t_hidden] = teacher_outputs(teacher, batch->input_ids);
      auto logits = model.forward(batch->input_ids).logits;
      const auto rows = logits.size(0) * logits.size(1);
      kl_sum += kl_divergence(logits, t_logits, 1.0).item<double>() * static_cast<double>(rows);
      positions += rows;
      nll += sum_ce(logits, batch->labels);
      teacher_nll += sum_ce(t_logits, batch->labels);
      labels += batch->labels.ne(kIgnoreLabel).sum().item<std::int64_t>();
    }
    if (positions > 0) m["kl"] = kl_sum / static_cast<double>(positions);
    if (labels > 0) {
      m["loss"] = nll / static_cast<double>(labels);
      m["teacher_loss"] = teacher_nll / static_cast<double>(labels);
    }
    return m;
  };

  // Distillation keeps the initial student (step 0, to measure what training changed) and the final one.
  LoopOptions loop = config.loop;
  loop.checkpoints.extra_steps.push_back(0);
  LoopHooks loop_hooks = hooks;
  loop_hooks.decorate_checkpoint = [&](const fs::path& dir) {
    copy_tokenizer_files(teacher.source_path(), dir);
    if (hooks.decorate_checkpoint) hooks.decorate_checkpoint(dir);
  };
  run.loop = run_training_loop(*student, train_data, objective, loop, work_dir, fingerprint, loop_hooks);
  return run;
}

void publish_distill_run(const DistillRun& run, const fs::path& output_dir, const json& extra_meta) {
  if (!run.loop.completed || run.loop.checkpoints.empty()) throw std::logic_error("publish_distill_run: the run has not finished");
  const auto& initial = run.loop.checkpoints.front();
  const auto& final = run.loop.checkpoints.back();
  for (const auto& entry : fs::directory_iterator(final.dir)) {
    if (!entry.is_regular_file() || entry.path().filename() == "artifact.json") continue;
    link_or_copy(entry.path(), output_dir / entry.path().filename());
  }
  json curve = json::array();
  for (const auto& p : run.loop.curve) curve.push_back({{"step", p.step}, {"train_loss", p.train_loss}, {"parts", p.parts}});
  json meta = {{"type", "model"},
               {"step", final.step},
               {"architecture", run.student_config.at("architectures").at(0)},
               {"teacher_parameters", run.teacher_parameters},
               {"student_parameters", run.student_parameters},
               {"parameters", run.student_parameters},
               {"teacher_layers", run.teacher_layers},
               {"data", run.data_source},
               {"validation_initial", initial.validation},
               {"validation_final", final.validation},
               {"loss_curve", curve}};
  for (auto it = extra_meta.begin(); it != extra_meta.end(); ++it) meta[it.key()] = it.value();
  write_text_file(output_dir / "artifact.json", meta.dump(2) + "\n");
}

}  // namespace biaslab::runtime::train
