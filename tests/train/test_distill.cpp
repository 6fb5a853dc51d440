// Distillation: the loss equals PyTorch's DistilBERT loss, students start from the right teacher
// layers, and training lowers the student's KL to the teacher (causal and masked).
#include <boost/test/unit_test.hpp>

#include <cstdio>

#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/train/distill.hpp"
#include "biaslab/runtime/train/pretrain.hpp"
#include "train/train_test_util.hpp"

namespace train = biaslab::runtime::train;
namespace rt = biaslab::runtime;
using namespace biaslab::train_test;
using nlohmann::json;

namespace {

json to_json(const torch::Tensor& t) {
  if (t.dim() == 0) return t.scalar_type() == torch::kLong ? json(t.item<std::int64_t>()) : json(t.item<double>());
  json out = json::array();
  for (std::int64_t i = 0; i < t.size(0); ++i) out.push_back(to_json(t[i]));
  return out;
}

json run_python(const std::string& script, const json& input) {
  TempDir tmp;
  write_file(tmp / "in.json", input.dump());
  const auto cmd = env_path("BIASLAB_REFERENCE_PYTHON").string() + " " + script + " < " + (tmp / "in.json").string();
  std::FILE* pipe = ::popen(cmd.c_str(), "r");
  BOOST_REQUIRE(pipe);
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  BOOST_REQUIRE_EQUAL(::pclose(pipe), 0);
  return json::parse(out);
}

train::DistillConfig small_distill(std::int64_t steps) {
  train::DistillConfig c;
  c.seq_len = 32;
  c.loop.optimizer.max_steps = steps;
  c.loop.optimizer.batch_size = 8;
  c.loop.optimizer.lr = 2e-3;
  c.loop.optimizer.warmup_steps = 2;
  c.loop.checkpoints.log_spaced = false;
  c.loop.checkpoints.every = 0;
  c.loop.validation_batches = 2;
  c.loop.log_every = 10;
  c.loop.seed = 3;
  return c;
}

// A tiny GPT-NeoX teacher pretrained on the tiny corpus (byte tokenizer).
std::filesystem::path train_teacher(const TempDir& tmp) {
  write_tiny_corpus(tmp / "corpus", 400);
  train::PretrainConfig c;
  c.hidden_size = 32;
  c.num_heads = 4;
  c.num_layers = 2;
  c.seq_len = 32;
  c.loop.optimizer.max_steps = 60;
  c.loop.optimizer.batch_size = 8;
  c.loop.optimizer.lr = 3e-3;
  c.loop.checkpoints.log_spaced = false;
  c.loop.checkpoints.every = 0;
  c.loop.validation_batches = 0;
  const auto run = train::pretrain(c, train::CorpusReader(tmp / "corpus"), tmp / "teacher-work");
  return run.loop.checkpoints.back().dir;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(distillation)

BOOST_AUTO_TEST_CASE(loss_equals_pytorch_distilbert_loss) {
  torch::manual_seed(21);
  const auto s = torch::randn({2, 3, 7}) * 2, t = torch::randn({2, 3, 7}) * 2;
  const auto hs = torch::randn({2, 3, 5}), ht = torch::randn({2, 3, 5});
  const auto labels = torch::tensor({{3, -100, 1}, {-100, 6, 0}}, torch::kLong);
  for (const double T : {1.0, 2.0}) {
    const auto ours = train::distillation_loss(s, t, hs, ht, labels, 5.0, 2.0, 1.0, T);
    const auto ref = run_python((env_path("BIASLAB_SOURCE_DIR") / "tests/train/distill_reference.py").string(),
                                {{"s", to_json(s)}, {"t", to_json(t)}, {"hs", to_json(hs)}, {"ht", to_json(ht)},
                                 {"labels", to_json(labels)}, {"alpha", 5.0}, {"beta", 2.0}, {"gamma", 1.0}, {"T", T}});
    BOOST_TEST_MESSAGE("T=" << T << ": ours " << ours.total.item<double>() << ", PyTorch " << ref["total"]);
    BOOST_CHECK_CLOSE(ours.kl.item<double>(), ref["kl"].get<double>(), 1e-4);
    BOOST_CHECK_CLOSE(ours.lm.item<double>(), ref["lm"].get<double>(), 1e-4);
    BOOST_CHECK_CLOSE(ours.cos.item<double>(), ref["cos"].get<double>(), 1e-4);
    BOOST_CHECK_CLOSE(ours.total.item<double>(), ref["total"].get<double>(), 1e-4);
  }
  // Identical distributions: KL 0; identical hidden states: cosine loss 0.
  const auto same = train::distillation_loss(s, s, hs, hs, labels, 1, 0, 1, 2.0);
  BOOST_CHECK_SMALL(same.kl.item<double>(), 1e-6);
  BOOST_CHECK_SMALL(same.cos.item<double>(), 1e-6);
}

BOOST_AUTO_TEST_CASE(layer_choice_generalises_distilbert) {
  BOOST_CHECK(train::spread_layers(12, 6) == (std::vector<std::int64_t>{0, 2, 4, 7, 9, 11}));  // DistilBERT
  BOOST_CHECK(train::spread_layers(2, 1) == (std::vector<std::int64_t>{0}));
  BOOST_CHECK(train::spread_layers(6, 3) == (std::vector<std::int64_t>{0, 3, 5}));  // 0, 2.5 -> 3 (half away from 0), 5
  BOOST_CHECK_THROW(train::spread_layers(2, 3), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(student_with_every_teacher_layer_is_the_teacher) {
  // The HF GPT-NeoX fixture as teacher, the student initialised from both its layers: at step 0
  // the student computes the teacher's function, so its KL to the teacher is 0.
  TempDir tmp;
  write_tiny_corpus(tmp / "corpus", 40);
  const auto teacher = rt::load_model(env_path("BIASLAB_FIXTURES") / "gpt_neox");
  auto config = small_distill(0);
  config.teacher_layers = {0, 1};
  config.seq_len = 16;
  config.loop.optimizer.batch_size = 4;
  config.loop.validation_batches = 1;
  const train::CorpusReader corpus(tmp / "corpus");
  const auto run = train::distill(*teacher, config, &corpus, tmp / "work");
  BOOST_REQUIRE(run.loop.completed);
  const auto& initial = run.loop.checkpoints.front().validation;
  BOOST_TEST_MESSAGE("identical student: KL " << initial.at("kl") << ", loss " << initial.at("loss") << " vs teacher "
                                              << initial.at("teacher_loss"));
  BOOST_CHECK_SMALL(initial.at("kl"), 1e-6);
  BOOST_CHECK_CLOSE(initial.at("loss"), initial.at("teacher_loss"), 1e-4);
  BOOST_CHECK_EQUAL(run.student_parameters, run.teacher_parameters);
}

BOOST_AUTO_TEST_CASE(causal_distillation_lowers_kl_to_the_teacher) {
  TempDir tmp;
  const auto teacher_dir = train_teacher(tmp);
  const auto teacher = rt::load_model(teacher_dir);
  const train::CorpusReader corpus(tmp / "corpus");

  // Student from teacher layer 1 only, trained on the KL term alone: starting close to the
  // teacher (KL ~0.03), DistilBERT's weights would let the LM term pull this weak teacher's
  // student towards the data instead (see the random student below for the full recipe).
  auto config = small_distill(60);
  config.teacher_layers = {1};
  config.alpha_kl = 1.0;
  config.beta_lm = 0.0;
  config.gamma_cos = 0.0;
  config.temperature = 1.0;
  config.loop.optimizer.lr = 1e-3;
  const auto run = train::distill(*teacher, config, &corpus, tmp / "from-layers");
  const auto& before = run.loop.checkpoints.front().validation;
  const auto& after = run.loop.checkpoints.back().validation;
  BOOST_TEST_MESSAGE("layer-initialised student (" << run.student_parameters << " of " << run.teacher_parameters
                                                   << " parameters): KL " << before.at("kl") << " -> " << after.at("kl"));
  BOOST_CHECK_LT(after.at("kl"), 0.5 * before.at("kl"));
  BOOST_CHECK_LT(run.student_parameters, run.teacher_parameters);
  // The step-0 student's layer 0 is the teacher's layer 1, embeddings and head are the teacher's.
  const auto student0 = train::load_trainable_lm(run.loop.checkpoints.front().dir)->hf_state_dict();
  const auto teacher_state = teacher->state_dict();
  BOOST_CHECK(torch::equal(student0.at("gpt_neox.layers.0.mlp.dense_h_to_4h.weight"),
                           teacher_state.at("gpt_neox.layers.1.mlp.dense_h_to_4h.weight")));
  BOOST_CHECK(torch::equal(student0.at("gpt_neox.embed_in.weight"), teacher_state.at("gpt_neox.embed_in.weight")));
  BOOST_CHECK(torch::equal(student0.at("embed_out.weight"), teacher_state.at("embed_out.weight")));
  // Loss parts are recorded; the student is an HF model the runtime loads.
  BOOST_CHECK(run.loop.curve.back().parts.count("kl") && run.loop.curve.back().parts.count("lm"));
  TempDir out;
  train::publish_distill_run(run, out.path());
  const auto student = rt::load_model(out.path());
  BOOST_CHECK_EQUAL(student->config().num_layers, 1);
  BOOST_CHECK_EQUAL(student->parameter_count(), run.student_parameters);
  const auto meta = json::parse(read_file(out / "artifact.json"));
  BOOST_CHECK_EQUAL(meta["teacher_parameters"].get<std::int64_t>(), teacher->parameter_count());
  BOOST_CHECK_EQUAL(meta["validation_final"]["kl"].get<double>(), after.at("kl"));

  // A narrower random student (no cosine loss: hidden sizes differ), and one trained on the
  // teacher's own samples (no corpus).
  auto narrow = small_distill(60);
  narrow.student_init = "random";
  narrow.hidden_size = 16;
  narrow.num_heads = 2;
  narrow.num_layers = 1;
  narrow.gamma_cos = 0;
  const auto r = train::distill(*teacher, narrow, &corpus, tmp / "random");
  BOOST_TEST_MESSAGE("random student: KL " << r.loop.checkpoints.front().validation.at("kl") << " -> "
                                           << r.loop.checkpoints.back().validation.at("kl"));
  BOOST_CHECK_LT(r.loop.checkpoints.back().validation.at("kl"), 0.5 * r.loop.checkpoints.front().validation.at("kl"));
  narrow.gamma_cos = 1.0;
  BOOST_CHECK_THROW(train::distill(*teacher, narrow, &corpus, tmp / "bad"), std::invalid_argument);

  auto sampled = small_distill(40);
  sampled.teacher_layers = {1};
  sampled.teacher_samples = 64;
  const auto s = train::distill(*teacher, sampled, nullptr, tmp / "samples");
  BOOST_CHECK_EQUAL(s.data_source, "teacher samples");
  BOOST_CHECK_LT(s.loop.checkpoints.back().validation.at("kl"), s.loop.checkpoints.front().validation.at("kl"));
}

BOOST_AUTO_TEST_CASE(masked_distillation_lowers_kl_to_the_teacher) {
  // The HF BERT fixture (random weights, bert-base-uncased vocabulary) as teacher.
  TempDir tmp;
  write_tiny_corpus(tmp / "corpus", 200);
  const auto teacher = rt::load_model(env_path("BIASLAB_FIXTURES") / "bert");
  const train::CorpusReader corpus(tmp / "corpus");
  auto config = small_distill(30);
  config.teacher_layers = {1};
  config.loop.optimizer.lr = 3e-3;
  const auto run = train::distill(*teacher, config, &corpus, tmp / "work");
  const auto& before = run.loop.checkpoints.front().validation;
  const auto& after = run.loop.checkpoints.back().validation;
  BOOST_TEST_MESSAGE("BERT student: KL " << before.at("kl") << " -> " << after.at("kl") << ", MLM loss "
                                         << before.at("loss") << " -> " << after.at("loss"));
  BOOST_CHECK_LT(after.at("kl"), 0.7 * before.at("kl"));
  const auto student0 = train::load_trainable_lm(run.loop.checkpoints.front().dir)->hf_state_dict();
  const auto t = teacher->state_dict();
  BOOST_CHECK(torch::equal(student0.at("bert.encoder.layer.0.output.LayerNorm.weight"),
                           t.at("bert.encoder.layer.1.output.LayerNorm.weight")));
  BOOST_CHECK(torch::equal(student0.at("cls.predictions.bias"), t.at("cls.predictions.bias")));
  TempDir out;
  train::publish_distill_run(run, out.path());
  BOOST_CHECK_EQUAL(rt::load_model(out.path())->architecture(), "BertForMaskedLM");
  BOOST_CHECK(std::filesystem::is_regular_file(out / "vocab.txt") || std::filesystem::is_regular_file(out / "tokenizer.json"));
  // Masked teachers need text.
  BOOST_CHECK_THROW(train::distill(*teacher, config, nullptr, tmp / "none"), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
