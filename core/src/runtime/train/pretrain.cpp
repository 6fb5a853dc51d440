#include "biaslab/runtime/train/pretrain.hpp"

#include <algorithm>
#include <stdexcept>

#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "biaslab/runtime/train/bert_masked_lm.hpp"
#include "biaslab/runtime/train/gpt_neox_lm.hpp"
#include "biaslab/runtime/train/tokenizer_builder.hpp"
#include "runtime/train/file_util.hpp"
#include "runtime/train/run_support.hpp"

namespace biaslab::runtime::train {

namespace fs = std::filesystem;
using nlohmann::json;

nlohmann::json PretrainConfig::to_json() const {
  return {{"architecture", architecture},
          {"num_layers", num_layers},
          {"hidden_size", hidden_size},
          {"num_heads", num_heads},
          {"intermediate_size", intermediate_size},
          {"rotary_pct", rotary_pct},
          {"max_position_embeddings", max_position_embeddings},
          {"seq_len", seq_len},
          {"tokenizer", tokenizer},
          {"bpe_vocab_size", bpe_vocab_size},
          {"mlm_probability", mlm_probability},
          {"loop", loop_options_json(loop)}};
}

PretrainRun pretrain(const PretrainConfig& config, const CorpusReader& corpus, const fs::path& work_dir,
                     const LoopHooks& hooks) {
  const bool causal = config.architecture == "gpt_neox";
  if (!causal && config.architecture != "bert") {
    throw std::invalid_argument("pretrain: architecture '" + config.architecture + "' is not gpt_neox or bert");
  }
  if (config.seq_len < 2) throw std::invalid_argument("pretrain: seq_len must be at least 2");
  PretrainRun run;
  run.work_dir = work_dir;
  run.tokenizer_dir = work_dir / "tokenizer";
  fs::create_directories(work_dir);

  const auto train_docs = corpus.documents("train");
  if (train_docs.empty()) throw std::runtime_error("corpus " + corpus.dir().string() + " has no training documents");
  const auto validation_docs = corpus.documents("validation");

  const auto max_positions = config.max_position_embeddings > 0
                                 ? config.max_position_embeddings
                                 : (causal ? std::max<std::int64_t>(2048, config.seq_len)
                                           : std::max<std::int64_t>(512, config.seq_len));
  if (max_positions < config.seq_len) {
    throw std::invalid_argument("pretrain: max_position_embeddings " + std::to_string(max_positions) +
                                " is shorter than seq_len " + std::to_string(config.seq_len));
  }
  const auto flavor = causal ? TokenizerFlavor::causal : TokenizerFlavor::masked;
  fs::remove_all(run.tokenizer_dir);
  if (config.tokenizer == "byte") {
    write_byte_level_tokenizer(run.tokenizer_dir, flavor, {}, max_positions);
  } else if (config.tokenizer == "bpe") {
    if (hooks.log) hooks.log("training a byte-level BPE tokenizer of " + std::to_string(config.bpe_vocab_size) + " tokens");
    BpeTrainerOptions bpe;
    bpe.vocab_size = config.bpe_vocab_size;
    write_byte_level_tokenizer(run.tokenizer_dir, flavor, train_byte_level_bpe(train_docs, flavor, bpe), max_positions);
  } else {
    copy_tokenizer_files(config.tokenizer, run.tokenizer_dir);
  }
  const auto tokenizer = load_tokenizer(run.tokenizer_dir);
  const auto vocab = static_cast<std::int64_t>(tokenizer->vocab_size());
  const auto tokens = ObjectiveTokens::from_tokenizer(*tokenizer, causal, vocab);

  if (hooks.log) hooks.log("tokenizing " + std::to_string(train_docs.size()) + " training documents");
  auto train_stream = encode_stream(*tokenizer, train_docs, tokens);
  auto validation_stream = encode_stream(*tokenizer, validation_docs, tokens);
  run.corpus_train_tokens = static_cast<std::int64_t>(train_stream.size());
  run.corpus_validation_tokens = static_cast<std::int64_t>(validation_stream.size());
  const auto fingerprint = json{{"config", config.to_json()},
                                {"vocab", vocab},
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
  } else if (hooks.log) {
    hooks.log("the corpus has no validation text long enough for one sequence; no validation loss");
  }

  // The model: initialised from the seed before anything else draws from torch's generator.
  torch::manual_seed(config.loop.seed);
  const auto intermediate = config.intermediate_size > 0 ? config.intermediate_size : 4 * config.hidden_size;
  std::shared_ptr<TrainableLM> model;
  if (causal) {
    GptNeoxConfig c;
    c.vocab_size = vocab;
    c.hidden_size = config.hidden_size;
    c.num_layers = config.num_layers;
    c.num_heads = config.num_heads;
    c.intermediate_size = intermediate;
    c.rotary_pct = config.rotary_pct;
    c.max_position_embeddings = max_positions;
    c.bos_token_id = tokenizer->bos_id().value_or(tokens.separator);
    c.eos_token_id = tokens.separator;
    c.pad_token_id = tokenizer->pad_id();
    model = std::make_shared<GptNeoxLM>(c);
  } else {
    BertConfig c;
    c.vocab_size = vocab;
    c.hidden_size = config.hidden_size;
    c.num_layers = config.num_layers;
    c.num_heads = config.num_heads;
    c.intermediate_size = intermediate;
    c.max_position_embeddings = max_positions;
    c.pad_token_id = tokens.pad;
    model = std::make_shared<BertMaskedLM>(c);
  }
  run.model_config = model->config_json();
  run.parameters = model->parameter_count();
  run.non_embedding_parameters = model->non_embedding_parameter_count();
  if (hooks.log) {
    hooks.log(model->architecture() + " with " + std::to_string(run.parameters) + " parameters (" +
              std::to_string(run.non_embedding_parameters) + " non-embedding), vocabulary " + std::to_string(vocab) +
              ", " + std::to_string(run.corpus_train_tokens) + " training tokens");
  }

  const auto objective = language_modeling_objective(validation.get(), config.loop.optimizer.batch_size,
                                                     config.loop.validation_batches, config.seq_len);
  LoopHooks loop_hooks = hooks;
  loop_hooks.decorate_checkpoint = [&](const fs::path& dir) {
    copy_files(run.tokenizer_dir, dir);
    if (hooks.decorate_checkpoint) hooks.decorate_checkpoint(dir);
  };
  run.loop = run_training_loop(*model, train_data, objective, config.loop, work_dir, fingerprint, loop_hooks);
  return run;
}

void publish_training_run(const PretrainRun& run, const LoopOptions& options, const fs::path& output_dir,
                          const json& extra_meta) {
  if (!run.loop.completed) throw std::logic_error("publish_training_run: the run has not finished");
  if (run.loop.checkpoints.empty()) throw std::logic_error("publish_training_run: the run has no checkpoints");
  json members = json::array();
  json checkpoints = json::object();
  for (const auto& c : run.loop.checkpoints) {
    const auto name = checkpoint_name(c.step);
    link_tree(c.dir, output_dir / name);
    members.push_back(name);
    json entry = {{"step", c.step}, {"tokens_seen", c.tokens_seen}, {"validation", c.validation}};
    entry["train_loss"] = c.train_loss ? json(*c.train_loss) : json(nullptr);
    checkpoints[name] = entry;
  }
  const auto final_name = checkpoint_name(run.loop.checkpoints.back().step);
  json fractions = json::object();
  for (const auto& [f, step] : options.checkpoints.fraction_steps(options.optimizer.max_steps)) {
    const auto alias = fraction_name(f);
    fs::create_directory_symlink(checkpoint_name(step), output_dir / alias);
    fractions[json(f).dump()] = checkpoint_name(step);
    members.push_back(alias);
  }
  fs::create_directory_symlink(final_name, output_dir / "final");
  members.push_back("final");
  // The directory itself is the final model.
  for (const auto& entry : fs::directory_iterator(output_dir / final_name)) {
    if (!entry.is_regular_file() || entry.path().filename() == "artifact.json") continue;
    link_or_copy(entry.path(), output_dir / entry.path().filename());
  }
  json curve = json::array();
  for (const auto& p : run.loop.curve) curve.push_back({{"step", p.step}, {"train_loss", p.train_loss}, {"parts", p.parts}});
  json meta = {{"type", "model"},
               {"collection", true},
               {"members", members},
               {"checkpoints", checkpoints},
               {"fractions", fractions},
               {"final", final_name},
               {"step", run.loop.checkpoints.back().step},
               {"architecture", run.model_config.at("architectures").at(0)},
               {"parameters", run.parameters},
               {"non_embedding_parameters", run.non_embedding_parameters},
               {"corpus_train_tokens", run.corpus_train_tokens},
               {"corpus_validation_tokens", run.corpus_validation_tokens},
               {"loss_curve", curve}};
  for (auto it = extra_meta.begin(); it != extra_meta.end(); ++it) meta[it.key()] = it.value();
  write_text_file(output_dir / "artifact.json", meta.dump(2) + "\n");
}

}  // namespace biaslab::runtime::train
