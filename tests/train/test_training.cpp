// The training loop: loss decreases, AdamW does what its formula says, the same seed gives
// bit-identical checkpoints, a resumed run equals an uninterrupted one, checkpoints are laid out
// as a model collection that the runtime loads.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "biaslab/runtime/train/gpt_neox_lm.hpp"
#include "biaslab/runtime/train/pretrain.hpp"
#include "biaslab/runtime/train/tokenizer_builder.hpp"
#include "train/train_test_util.hpp"

namespace train = biaslab::runtime::train;
using namespace biaslab::train_test;
using nlohmann::json;

namespace {

train::PretrainConfig tiny_config(std::int64_t steps) {
  train::PretrainConfig c;
  c.num_layers = 2;
  c.hidden_size = 32;
  c.num_heads = 4;  // head size 8, rotary 0.25 -> 2 dims
  c.seq_len = 32;
  c.loop.optimizer.max_steps = steps;
  c.loop.optimizer.batch_size = 8;
  c.loop.optimizer.lr = 3e-3;
  c.loop.optimizer.warmup_steps = 2;
  c.loop.log_every = 10;
  c.loop.validation_batches = 4;
  c.loop.seed = 11;
  return c;
}

// name -> bytes of every checkpoint's model.safetensors
std::map<std::string, std::string> checkpoint_bytes(const train::PretrainRun& run) {
  std::map<std::string, std::string> out;
  for (const auto& c : run.loop.checkpoints) out[train::checkpoint_name(c.step)] = read_file(c.dir / "model.safetensors");
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(training)

BOOST_AUTO_TEST_CASE(loss_decreases_on_a_tiny_run) {
  TempDir tmp;
  write_tiny_corpus(tmp / "corpus", 400);
  auto config = tiny_config(80);
  const auto run = train::pretrain(config, train::CorpusReader(tmp / "corpus"), tmp / "work");
  BOOST_REQUIRE(run.loop.completed);
  const auto& first = run.loop.checkpoints.front();
  const auto& last = run.loop.checkpoints.back();
  BOOST_CHECK_EQUAL(first.step, 0);
  BOOST_CHECK_EQUAL(last.step, 80);
  // At initialisation the logits are ~0: the loss is ln(vocabulary) = ln(258) = 5.553.
  BOOST_TEST_MESSAGE("validation loss " << first.validation.at("loss") << " -> " << last.validation.at("loss")
                                        << "; train loss " << run.loop.curve.front().train_loss << " -> "
                                        << run.loop.curve.back().train_loss << "; "
                                        << run.loop.tokens_per_second() << " tokens/s");
  BOOST_CHECK_CLOSE(first.validation.at("loss"), std::log(258.0), 1.0);
  BOOST_CHECK_LT(last.validation.at("loss"), first.validation.at("loss") - 2.0);
  BOOST_CHECK_LT(run.loop.curve.back().train_loss, run.loop.curve.front().train_loss - 1.5);
  // A curve point every 10 steps and at each checkpoint: 10..80 and 1, 2, 4, 8, 16, 32, 64.
  BOOST_CHECK_EQUAL(run.loop.curve.size(), 15u);
}

BOOST_AUTO_TEST_CASE(adamw_step_matches_its_formula) {
  // One update with lr 0.01, weight decay 0.1 (matrices only), no clipping, no warm-up. Adam's
  // first bias-corrected step is g / (|g| + eps), so
  //   p1 = p0 * (1 - lr * wd) - lr * g / (|g| + eps)   (matrices and embeddings)
  //   p1 = p0 - lr * g / (|g| + eps)                    (biases, LayerNorm)
  TempDir tmp;
  write_tiny_corpus(tmp / "corpus", 100);
  const auto tok_dir = tmp / "tok";
  train::write_byte_level_tokenizer(tok_dir, train::TokenizerFlavor::causal);
  const auto tok = biaslab::runtime::load_tokenizer(tok_dir);
  const auto tokens = train::ObjectiveTokens::from_tokenizer(*tok, true, 258);
  const train::BatchSource data(train::encode_stream(*tok, train::CorpusReader(tmp / "corpus").documents("train"), tokens),
                                tokens, 16, 5);
  train::GptNeoxConfig mc;
  mc.vocab_size = 258;
  mc.hidden_size = 16;
  mc.num_heads = 2;
  mc.intermediate_size = 32;
  torch::manual_seed(4);
  train::GptNeoxLM model(mc);
  torch::manual_seed(4);
  train::GptNeoxLM reference(mc);
  const double lr = 0.01, wd = 0.1, eps = 1e-8;
  train::LoopOptions options;
  options.optimizer = {.max_steps = 1, .batch_size = 4, .lr = lr, .min_lr_ratio = 0.1, .warmup_steps = 0,
                       .weight_decay = wd, .beta1 = 0.9, .beta2 = 0.95, .eps = eps, .grad_clip = 0};
  options.checkpoints.log_spaced = false;
  options.checkpoints.every = 0;
  options.validation_batches = 0;
  const auto objective = train::language_modeling_objective(nullptr, 4, 0, 16);
  train::run_training_loop(model, data, objective, options, tmp / "work", "adamw");

  const auto batch = data.training_batch(0, 4);
  train::lm_cross_entropy(reference.forward(batch.input_ids).logits, batch.labels).backward();
  const auto after = model.hf_state_dict();
  for (const auto& [name, p0] : reference.hf_state_dict()) {
    const auto g = p0.grad();
    const double decay = p0.dim() >= 2 ? wd : 0.0;
    const auto expected = p0.detach() * (1 - lr * decay) - lr * g / (g.abs() + eps);
    BOOST_TEST_INFO(name);
    BOOST_CHECK_LE(max_abs_diff(after.at(name).detach(), expected), 1e-6);
  }
}

BOOST_AUTO_TEST_CASE(same_seed_gives_bit_identical_checkpoints) {
  TempDir tmp;
  write_tiny_corpus(tmp / "corpus", 200);
  const train::CorpusReader corpus(tmp / "corpus");
  const auto config = tiny_config(20);
  const auto a = checkpoint_bytes(train::pretrain(config, corpus, tmp / "a"));
  const auto b = checkpoint_bytes(train::pretrain(config, corpus, tmp / "b"));
  BOOST_CHECK_EQUAL(a.size(), 7u);  // 0, 1, 2, 4, 8, 16, 20
  for (const auto& [name, bytes] : a) {
    BOOST_TEST_INFO(name);
    BOOST_CHECK(bytes == b.at(name));
  }
  auto other = config;
  other.loop.seed = 12;
  const auto c = checkpoint_bytes(train::pretrain(other, corpus, tmp / "c"));
  BOOST_CHECK(c.at("step0") != a.at("step0"));  // another initialisation
  BOOST_CHECK(c.at("step20") != a.at("step20"));
}

BOOST_AUTO_TEST_CASE(resumed_run_equals_uninterrupted_run) {
  TempDir tmp;
  write_tiny_corpus(tmp / "corpus", 200);
  const train::CorpusReader corpus(tmp / "corpus");
  auto config = tiny_config(30);
  config.loop.save_state_every = 7;
  config.loop.checkpoints.fractions = {0.5};
  const auto whole = train::pretrain(config, corpus, tmp / "whole");

  for (const std::int64_t stop : {13, 16}) {  // between state saves (7, 14) / right at a checkpoint (16)
    const auto work = tmp / ("resumed" + std::to_string(stop));
    auto interrupted = config;
    interrupted.loop.stop_after_steps = stop;
    const auto part = train::pretrain(interrupted, corpus, work);
    BOOST_CHECK(!part.loop.completed);
    BOOST_CHECK_EQUAL(part.loop.steps_done, stop);
    std::vector<std::string> log;
    train::LoopHooks hooks;
    hooks.log = [&](const std::string& m) { log.push_back(m); };
    const auto rest = train::pretrain(config, corpus, work, hooks);
    BOOST_REQUIRE(rest.loop.completed);
    BOOST_CHECK(std::any_of(log.begin(), log.end(), [&](const std::string& m) {
      return m == "resuming training at step " + std::to_string(stop) + " of 30";
    }));
    BOOST_CHECK_EQUAL(rest.loop.train_tokens, (30 - stop) * 8 * 32);  // only the remaining steps ran
    const auto want = checkpoint_bytes(whole), got = checkpoint_bytes(rest);
    BOOST_CHECK_EQUAL(got.size(), want.size());
    for (const auto& [name, bytes] : want) {
      BOOST_TEST_INFO("stop " << stop << " " << name);
      BOOST_CHECK(got.count(name) && got.at(name) == bytes);
    }
    BOOST_REQUIRE_EQUAL(rest.loop.curve.size(), whole.loop.curve.size());
    for (std::size_t i = 0; i < whole.loop.curve.size(); ++i) {
      BOOST_CHECK_EQUAL(rest.loop.curve[i].step, whole.loop.curve[i].step);
      BOOST_CHECK_EQUAL(rest.loop.curve[i].train_loss, whole.loop.curve[i].train_loss);  // exact
    }
    BOOST_CHECK_EQUAL(rest.loop.checkpoints.back().validation.at("loss"), whole.loop.checkpoints.back().validation.at("loss"));
  }
  // A state saved with other settings is discarded, not resumed.
  auto changed = config;
  changed.loop.optimizer.lr = 1e-3;
  std::vector<std::string> log;
  train::LoopHooks hooks;
  hooks.log = [&](const std::string& m) { log.push_back(m); };
  const auto fresh = train::pretrain(changed, corpus, tmp / "whole", hooks);
  BOOST_CHECK(std::any_of(log.begin(), log.end(), [](const std::string& m) { return m.find("discarding") == 0; }));
  BOOST_CHECK_EQUAL(fresh.loop.train_tokens, 30 * 8 * 32);
}

BOOST_AUTO_TEST_CASE(published_run_is_a_collection_of_hf_checkpoints) {
  TempDir tmp;
  write_tiny_corpus(tmp / "corpus", 200);
  auto config = tiny_config(40);
  config.tokenizer = "bpe";
  config.bpe_vocab_size = 300;
  config.loop.checkpoints.fractions = {0.25, 1.0};
  const auto run = train::pretrain(config, train::CorpusReader(tmp / "corpus"), tmp / "work");
  const auto out = tmp / "out";
  std::filesystem::create_directories(out);
  train::publish_training_run(run, config.loop, out, {{"corpus", "c"}});

  const auto meta = json::parse(read_file(out / "artifact.json"));
  BOOST_CHECK_EQUAL(meta["final"], "step40");
  BOOST_CHECK_EQUAL(meta["fractions"]["0.25"], "step10");
  BOOST_CHECK_EQUAL(meta["corpus"], "c");
  BOOST_CHECK_EQUAL(meta["parameters"].get<std::int64_t>(), run.parameters);
  for (const std::string name : {"step0", "step1", "step2", "step4", "step8", "step10", "step16", "step32", "step40"}) {
    BOOST_TEST_INFO(name);
    BOOST_CHECK(std::filesystem::is_regular_file(out / name / "model.safetensors"));
    BOOST_CHECK(std::filesystem::is_regular_file(out / name / "tokenizer.json"));
    BOOST_CHECK_EQUAL(json::parse(read_file(out / name / "artifact.json"))["step"].get<std::int64_t>(),
                      std::stoll(name.substr(4)));
  }
  BOOST_CHECK(std::filesystem::is_symlink(out / "frac0.25"));
  BOOST_CHECK_EQUAL(std::filesystem::read_symlink(out / "frac0.25").string(), "step10");
  BOOST_CHECK_EQUAL(std::filesystem::read_symlink(out / "frac1.0").string(), "step40");
  BOOST_CHECK_EQUAL(std::filesystem::read_symlink(out / "final").string(), "step40");
  // The collection directory itself is the final model; a relocated copy keeps working.
  std::filesystem::rename(out, tmp / "moved");
  const auto top = biaslab::runtime::load_model(tmp / "moved");
  const auto alias = biaslab::runtime::load_model(tmp / "moved" / "frac0.25");
  const auto step10 = biaslab::runtime::load_model(tmp / "moved" / "step10");
  const auto ids = torch::randint(0, 258, {2, 12}, torch::kLong);
  BOOST_CHECK(torch::equal(top->forward(ids), biaslab::runtime::load_model(tmp / "moved" / "step40")->forward(ids)));
  BOOST_CHECK(torch::equal(alias->forward(ids), step10->forward(ids)));
  BOOST_CHECK(!torch::equal(top->forward(ids), step10->forward(ids)));
  // The BPE tokenizer travels with every checkpoint.
  const auto tok = biaslab::runtime::load_tokenizer(tmp / "moved" / "step4");
  BOOST_CHECK_EQUAL(tok->vocab_size(), 300u);
  BOOST_CHECK_EQUAL(top->config().vocab_size, 300);
}

BOOST_AUTO_TEST_CASE(training_module_and_runtime_agree_on_a_trained_checkpoint) {
  TempDir tmp;
  write_tiny_corpus(tmp / "corpus", 200);
  const auto run = train::pretrain(tiny_config(25), train::CorpusReader(tmp / "corpus"), tmp / "work");
  const auto dir = run.loop.checkpoints.back().dir;
  auto trained = train::load_trainable_lm(dir);
  const auto runtime_model = biaslab::runtime::load_model(dir);
  const auto ids = torch::randint(0, 258, {4, 32}, torch::kLong);
  torch::NoGradGuard no_grad;
  const double diff = max_abs_diff(trained->forward(ids).logits, runtime_model->forward(ids));
  BOOST_TEST_MESSAGE("trained checkpoint: max |logit diff| training module vs runtime " << diff);
  BOOST_CHECK_LE(diff, 1e-5);
}

BOOST_AUTO_TEST_CASE(masked_lm_pretraining_learns) {
  TempDir tmp;
  write_tiny_corpus(tmp / "corpus", 400);
  auto config = tiny_config(80);
  config.architecture = "bert";
  config.loop.optimizer.lr = 2e-3;
  const auto run = train::pretrain(config, train::CorpusReader(tmp / "corpus"), tmp / "work");
  const auto& first = run.loop.checkpoints.front();
  const auto& last = run.loop.checkpoints.back();
  BOOST_TEST_MESSAGE("MLM validation loss " << first.validation.at("loss") << " -> " << last.validation.at("loss"));
  // ~ln(261) at initialisation; slightly below, as the decoder tied to the input embeddings
  // already favours the unmasked 10% of targets that are their own input.
  BOOST_CHECK_CLOSE(first.validation.at("loss"), std::log(261.0), 2.0);
  BOOST_CHECK_LT(last.validation.at("loss"), first.validation.at("loss") - 1.0);
  const auto model = biaslab::runtime::load_model(last.dir);
  BOOST_CHECK_EQUAL(model->architecture(), "BertForMaskedLM");
  const auto tok = biaslab::runtime::load_tokenizer(last.dir);
  BOOST_CHECK_EQUAL(*tok->mask_id(), 4);
}

BOOST_AUTO_TEST_SUITE_END()
