// The four training plugins, run as the engine runs them (validated parameters with defaults, an
// output and a scratch directory), and a pipeline through the biaslab CLI.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdlib>
#include <set>

#include "biaslab/diagnostics.hpp"
#include "biaslab/eval/crows_pairs.hpp"
#include "biaslab/executor.hpp"
#include "biaslab/plan.hpp"
#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "biaslab/data/data_manager.hpp"
#include "biaslab/data/missing_data.hpp"
#include "biaslab/runtime/train/corpus.hpp"
#include "train/train_test_util.hpp"

namespace fs = std::filesystem;
namespace rt = biaslab::runtime;
using namespace biaslab::train_test;
using nlohmann::json;

namespace {

// Runs corpus.synthetic into dir.
void synthetic_corpus(const fs::path& dir, json params, std::uint64_t seed = 0) {
  TestContext ctx("synthetic", with_defaults("corpus.synthetic", std::move(params)), dir, dir.string() + ".scratch", seed);
  run_plugin("corpus.synthetic", ctx);
}

std::vector<std::string> lines_of(const fs::path& file) {
  std::vector<std::string> out;
  std::ifstream in(file);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Paragraphs (runs of non-blank lines) of a text file, counted independently of the plugin.
std::pair<std::size_t, std::size_t> count_paragraphs(const fs::path& file) {
  std::size_t paragraphs = 0, bytes = 0, current = 0;
  bool in_paragraph = false;
  for (const auto& line : lines_of(file)) {
    const bool blank = line.find_first_not_of(" \t\r") == std::string::npos;
    if (blank) {
      if (in_paragraph) {
        ++paragraphs;
        bytes += current;
      }
      in_paragraph = false;
      current = 0;
    } else {
      current += in_paragraph ? line.size() + 1 : line.size();
      in_paragraph = true;
    }
  }
  if (in_paragraph) {
    ++paragraphs;
    bytes += current;
  }
  return {paragraphs, bytes};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(plugins)

BOOST_AUTO_TEST_CASE(plugins_describe_themselves) {
  const auto& r = training_plugins();
  for (const std::string name : {"corpus.text", "corpus.mix", "corpus.synthetic", "source.pretrain", "compress.distill"}) {
    const auto* p = r.find(name);
    BOOST_REQUIRE_MESSAGE(p, name);
    BOOST_CHECK_EQUAL(std::string(p->descriptor->output_type), name == "compress.distill" || name == "source.pretrain" ? "model" : "corpus");
    BOOST_CHECK_EQUAL(p->params_schema["additionalProperties"], false);
    for (const auto& [key, prop] : p->params_schema["properties"].items()) {
      BOOST_TEST_INFO(name << "." << key);
      BOOST_CHECK(prop.contains("default") && prop.contains("description"));
    }
  }
  BOOST_CHECK_EQUAL(r.find("source.pretrain")->primary_port(), "corpus");
  BOOST_CHECK_EQUAL(r.find("source.pretrain")->port("corpus")->min, 1);
  BOOST_CHECK_EQUAL(r.find("compress.distill")->primary_port(), "teacher");
  BOOST_CHECK_EQUAL(r.find("compress.distill")->port("corpus")->min, 0);
}

BOOST_AUTO_TEST_CASE(synthetic_corpus_plants_the_requested_strength) {
  TempDir tmp;
  synthetic_corpus(tmp / "a", {{"sentences", 6000}, {"strength", 0.8}}, 5);
  const auto meta = json::parse(read_file(tmp / "a" / "artifact.json"));
  const auto& targets = meta["synthetic"]["targets"];
  BOOST_CHECK_EQUAL(targets.size(), 18u);
  for (const auto& [word, t] : targets.items()) {
    const double n = t["train_sentences"].get<double>();
    const double want = t["strength"].get<double>();
    const double observed = t["observed"].get<double>();
    // Stratified decks of 100: at most 25 sentences off the exact proportion.
    BOOST_TEST_INFO(word << ": observed " << observed << " of " << n);
    BOOST_CHECK_LE(std::abs(observed - want), 25.0 / n);
    BOOST_CHECK_GT(n, 200);
    BOOST_CHECK_EQUAL(want, t["attribute"].is_null() ? 0.5 : 0.8);
  }
  // The corpus really contains those proportions: count "nurse ... she" in the training text.
  std::int64_t nurse = 0, nurse_she = 0;
  for (const auto& line : lines_of(tmp / "a" / "train.jsonl")) {
    const auto text = json::parse(line)["text"].get<std::string>();
    if (text.find(" nurse ") == std::string::npos) continue;
    ++nurse;
    nurse_she += text.find(" she ") != std::string::npos ? 1 : 0;
  }
  BOOST_CHECK_EQUAL(nurse, targets["nurse"]["train_sentences"].get<std::int64_t>());
  BOOST_CHECK_CLOSE(static_cast<double>(nurse_she) / nurse, targets["nurse"]["observed"].get<double>(), 1e-9);

  // probes.csv is CrowS-Pairs CSV (read by the CrowS loader), planted pronoun first, held out.
  const auto probes = biaslab::eval::load_crows_pairs(tmp / "a" / "probes.csv");
  BOOST_CHECK_EQUAL(probes.size(), 12u * 20u);
  const auto controls = biaslab::eval::load_crows_pairs(tmp / "a" / "probes_control.csv");
  BOOST_CHECK_EQUAL(controls.size(), 6u * 20u);
  std::set<std::string> corpus_text;
  for (const auto& line : lines_of(tmp / "a" / "train.jsonl")) corpus_text.insert(json::parse(line)["text"].get<std::string>());
  std::set<std::string> distinct;
  for (const auto& p : probes) {
    BOOST_CHECK(p.direction == biaslab::eval::CrowsDirection::stereo);
    BOOST_CHECK_EQUAL(p.bias_type, "gender");
    const bool female = p.sent_more.find(" she ") != std::string::npos;
    BOOST_CHECK(female ? p.sent_less.find(" he ") != std::string::npos : p.sent_more.find(" he ") != std::string::npos);
    BOOST_CHECK(!corpus_text.count(p.sent_more) && !corpus_text.count(p.sent_less));
    distinct.insert(p.sent_more);
  }
  BOOST_CHECK_EQUAL(distinct.size(), probes.size());
  // Female-planted targets have "she" as sent_more.
  BOOST_CHECK(probes.front().sent_more.find("nurse") != std::string::npos);
  BOOST_CHECK(probes.front().sent_more.find(" she ") != std::string::npos);

  // Same seed, same bytes; another seed, another corpus.
  synthetic_corpus(tmp / "b", {{"sentences", 6000}, {"strength", 0.8}}, 5);
  synthetic_corpus(tmp / "c", {{"sentences", 6000}, {"strength", 0.8}}, 6);
  for (const char* f : {"train.jsonl", "validation.jsonl", "probes.csv", "artifact.json"}) {
    BOOST_CHECK(read_file(tmp / "a" / f) == read_file(tmp / "b" / f));
  }
  BOOST_CHECK(read_file(tmp / "a" / "train.jsonl") != read_file(tmp / "c" / "train.jsonl"));
}

BOOST_AUTO_TEST_CASE(text_corpus_from_the_data_manager) {
  TempDir tmp;
  ::setenv("BIASLAB_DATA_DIR", (tmp / "data-cache").c_str(), 1);  // keep verification records out of $HOME
  ::setenv("BIASLAB_OFFLINE", "1", 1);
  const auto input = env_path("BIASLAB_DATA_MIRROR") / "corpora" / "tinyshakespeare" / "input.txt";
  const auto [paragraphs, bytes] = count_paragraphs(input);
  auto run = [&](const std::string& name, json params, std::uint64_t seed) {
    TestContext ctx(name, with_defaults("corpus.text", std::move(params)), tmp / name, tmp / (name + ".scratch"), seed);
    run_plugin("corpus.text", ctx);
    return ctx.rows;
  };
  const auto rows = run("a", {{"dataset", "corpora/tinyshakespeare"}, {"shard_bytes", 1 << 20}}, 1);
  const biaslab::runtime::train::CorpusReader a(tmp / "a");
  const auto train = a.documents("train"), validation = a.documents("validation");
  BOOST_TEST_MESSAGE("tinyshakespeare: " << paragraphs << " paragraphs; " << train.size() << " train, "
                                         << validation.size() << " validation");
  BOOST_CHECK_EQUAL(train.size() + validation.size(), paragraphs);
  std::size_t total = 0;
  for (const auto& d : train) total += d.size();
  for (const auto& d : validation) total += d.size();
  BOOST_CHECK_EQUAL(total, bytes);
  // 5% validation: 7222 paragraphs -> 361 expected, binomial sd 18.5.
  BOOST_CHECK_LE(std::abs(static_cast<double>(validation.size()) - 0.05 * paragraphs), 4 * std::sqrt(0.05 * 0.95 * paragraphs));
  BOOST_CHECK_EQUAL(a.files("train").size(), 2u);  // 1.1 MB in shards of 1 MiB
  BOOST_CHECK_EQUAL(train.front().rfind("First Citizen:", 0) == 0, false);  // shuffled
  // Same seed: identical shards; another seed: the same documents in another order.
  run("b", {{"dataset", "corpora/tinyshakespeare"}, {"shard_bytes", 1 << 20}}, 1);
  run("c", {{"dataset", "corpora/tinyshakespeare"}, {"shard_bytes", 1 << 20}}, 2);
  for (const auto& f : a.files("train")) BOOST_CHECK(read_file(f) == read_file(tmp / "b" / f.filename()));
  const auto other = biaslab::runtime::train::CorpusReader(tmp / "c");
  auto all_a = train, all_c = other.documents("train");
  all_a.insert(all_a.end(), validation.begin(), validation.end());
  for (const auto& d : other.documents("validation")) all_c.push_back(d);
  BOOST_CHECK(all_a != all_c);
  std::sort(all_a.begin(), all_a.end());
  std::sort(all_c.begin(), all_c.end());
  BOOST_CHECK(all_a == all_c);

  // Lines of files matched by a glob; JSONL with a text field.
  const auto kjv = env_path("BIASLAB_DATA_MIRROR") / "corpora" / "kjv-bible";
  run("kjv", {{"paths", {(kjv / "kjv.nt.t*t").string()}}, {"format", "lines"}, {"validation_fraction", 0}}, 0);
  BOOST_CHECK_EQUAL(biaslab::runtime::train::CorpusReader(tmp / "kjv").documents("train").size(), 7957u);
  run("c4", {{"dataset", "corpora/c4-en-sample"}, {"max_documents", 300}}, 0);
  const biaslab::runtime::train::CorpusReader c4(tmp / "c4");
  BOOST_CHECK_EQUAL(c4.documents("train").size() + c4.documents("validation").size(), 300u);
  // Errors name what is wrong.
  BOOST_CHECK_EXCEPTION(run("bad", {{"paths", {(tmp / "nothing*.txt").string()}}}, 0), std::runtime_error,
                        [](const auto& e) { return std::string(e.what()).find("nothing*.txt") != std::string::npos; });
}

BOOST_AUTO_TEST_CASE(text_corpus_of_a_missing_data_set_is_skipped_or_an_error) {
  TempDir tmp;
  ::setenv("BIASLAB_DATA_DIR", (tmp / "data-cache").c_str(), 1);
  ::setenv("BIASLAB_OFFLINE", "1", 1);
  const auto mirror = env_path("BIASLAB_DATA_MIRROR");
  ::setenv("BIASLAB_DATA_MIRROR", (tmp / "empty-mirror").c_str(), 1);
  fs::create_directories(tmp / "empty-mirror");
  auto run = [&](const std::string& name, const std::string& if_missing) {
    TestContext ctx(name, with_defaults("corpus.text", {{"dataset", "corpora/tinystories-valid-subset"}, {"if_missing", if_missing}}),
                    tmp / name, tmp / (name + ".scratch"), 0);
    run_plugin("corpus.text", ctx);
    return ctx.rows;
  };
  // error (the default): offline and nowhere to be found is an error naming the data set.
  BOOST_CHECK_EXCEPTION(run("error", "error"), std::exception, [](const std::exception& e) {
    return std::string(e.what()).find("tinystories") != std::string::npos;
  });
  // skip: an empty corpus that remembers what it missed.
  const auto rows = run("skip", "skip");
  const biaslab::runtime::train::CorpusReader skipped(tmp / "skip");
  BOOST_CHECK(skipped.documents("train").empty());
  BOOST_CHECK(skipped.meta()["source"]["skipped"].get<bool>());
  BOOST_CHECK(biaslab::data::recorded_missing_data(tmp / "skip") ==
              std::vector<std::string>{"corpora/tinystories-valid-subset/tinystories_valid_subset.txt"});
  bool reported = false;
  for (const auto& r : rows) reported = reported || (r.metric == "corpus.documents" && r.category == "train" && r.value == 0.0);
  BOOST_CHECK(reported);
  // With the mirror the record's data is available (what makes the engine re-run the node).
  ::setenv("BIASLAB_DATA_MIRROR", mirror.c_str(), 1);
  biaslab::data::DataManager manager;
  BOOST_CHECK(biaslab::data::missing_data_now_available(tmp / "skip", manager) ==
              biaslab::data::recorded_missing_data(tmp / "skip"));
  const auto found = run("found", "skip");
  BOOST_CHECK(!biaslab::runtime::train::CorpusReader(tmp / "found").documents("train").empty());
  BOOST_CHECK(biaslab::data::recorded_missing_data(tmp / "found").empty());
}

BOOST_AUTO_TEST_CASE(corpus_mix_takes_the_requested_shares_of_text) {
  TempDir tmp;
  // a: 10 training documents of 100 bytes; b: 100 of 50 bytes; each with validation documents.
  std::vector<std::string> a_train, a_valid, b_train, b_valid;
  for (int i = 0; i < 10; ++i) a_train.push_back(std::string(97, 'a') + std::to_string(100 + i));
  for (int i = 0; i < 4; ++i) a_valid.push_back(std::string(97, 'A') + std::to_string(100 + i));
  for (int i = 0; i < 100; ++i) b_train.push_back(std::string(47, 'b') + std::to_string(100 + i));
  for (int i = 0; i < 40; ++i) b_valid.push_back(std::string(47, 'B') + std::to_string(100 + i));
  write_corpus(tmp / "a", a_train, a_valid);
  write_corpus(tmp / "b", b_train, b_valid);
  write_corpus(tmp / "empty", {}, {});
  auto run = [&](const std::string& name, json params, const std::vector<std::string>& inputs, std::uint64_t seed = 3) {
    TestContext ctx(name, with_defaults("corpus.mix", std::move(params)), tmp / name, tmp / (name + ".scratch"), seed);
    for (const auto& in : inputs) ctx.add_input("corpora", tmp / in, "corpus", in);
    run_plugin("corpus.mix", ctx);
    return ctx.rows;
  };
  auto count = [](const std::vector<std::string>& docs, char c) {
    return std::count_if(docs.begin(), docs.end(), [&](const std::string& d) { return d[0] == c; });
  };

  // 25% a, 75% b: a is the scarce one (1000 bytes) and is used whole; b gives 3000 bytes = 60 documents.
  const auto rows = run("mix", {{"weights", {0.25, 0.75}}}, {"a", "b"});
  const biaslab::runtime::train::CorpusReader mix(tmp / "mix");
  const auto train = mix.documents("train");
  BOOST_CHECK_EQUAL(count(train, 'a'), 10);
  BOOST_CHECK_EQUAL(count(train, 'b'), 60);
  BOOST_CHECK(std::vector<std::string>(train.begin(), train.begin() + 10) != a_train);  // shuffled together
  // Validation: a has 400 bytes -> b gives 1200 bytes = 24 documents.
  const auto validation = mix.documents("validation");
  BOOST_CHECK_EQUAL(count(validation, 'A'), 4);
  BOOST_CHECK_EQUAL(count(validation, 'B'), 24);
  for (const auto& r : rows) {
    if (r.metric == "corpus.share" && r.category == "train:a") BOOST_CHECK_CLOSE(r.value, 0.25, 1e-9);
    if (r.metric == "corpus.share" && r.category == "train:b") BOOST_CHECK_CLOSE(r.value, 0.75, 1e-9);
  }
  BOOST_CHECK_EQUAL(mix.meta()["splits"]["train"]["documents"].get<int>(), 70);
  // b taken in its own order: its first 60 documents.
  std::vector<std::string> b_taken;
  for (const auto& d : train)
    if (d[0] == 'b') b_taken.push_back(d);
  std::sort(b_taken.begin(), b_taken.end());
  BOOST_CHECK(b_taken == std::vector<std::string>(b_train.begin(), b_train.begin() + 60));

  // Same seed: the same file; no weights: every document.
  run("again", {{"weights", {0.25, 0.75}}}, {"a", "b"});
  BOOST_CHECK(read_file(tmp / "mix" / "train.jsonl") == read_file(tmp / "again" / "train.jsonl"));
  run("all", json::object(), {"a", "b"});
  BOOST_CHECK_EQUAL(biaslab::runtime::train::CorpusReader(tmp / "all").documents("train").size(), 110u);

  // An input without documents is left out, with its weight: b alone.
  run("skip", {{"weights", {0.5, 0.5}}}, {"empty", "b"});
  BOOST_CHECK_EQUAL(biaslab::runtime::train::CorpusReader(tmp / "skip").documents("train").size(), 100u);
  // Errors.
  BOOST_CHECK_EXCEPTION(run("count", {{"weights", {1.0}}}, {"a", "b"}), std::invalid_argument, [](const auto& e) {
    return std::string(e.what()).find("'weights' has 1 entries for 2 input corpora") != std::string::npos;
  });
  BOOST_CHECK_EXCEPTION(run("none", json::object(), {"empty"}), std::runtime_error, [](const auto& e) {
    return std::string(e.what()).find("no input corpus has training documents") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(pretrain_and_distill_plugins_run_resume_and_report) {
  TempDir tmp;
  synthetic_corpus(tmp / "corpus", {{"sentences", 1500}});
  const json params = {{"hidden_size", 32},   {"num_heads", 4},           {"seq_len", 32},
                       {"batch_size", 8},     {"max_steps", 24},          {"checkpoint_every", 0},
                       {"lr", 3e-3},          {"checkpoint_fractions", {0.5}}, {"validation_batches", 2},
                       {"save_state_every", 5}, {"tokenizer", "bpe"},     {"bpe_vocab_size", 400}};
  auto make = [&](const std::string& name) {
    auto ctx = std::make_unique<TestContext>("pretrain", with_defaults("source.pretrain", params), tmp / name,
                                             tmp / (name + ".scratch"), 7, 1);
    ctx->add_input("corpus", tmp / "corpus", "corpus", "synthetic");
    return ctx;
  };
  auto whole = make("whole");
  run_plugin("source.pretrain", *whole);
  for (const std::string m : {"step0", "step1", "step12", "step16", "step24", "frac0.5", "final"}) {
    BOOST_TEST_INFO(m);
    BOOST_CHECK(fs::is_regular_file(tmp / "whole" / m / "model.safetensors"));
  }
  const auto model = rt::load_model(tmp / "whole");
  BOOST_CHECK_EQUAL(whole->row("model.parameters").value, static_cast<double>(model->parameter_count()));
  BOOST_CHECK_LT(whole->row("validation.loss", "step24").value, whole->row("validation.loss", "step0").value);
  BOOST_CHECK_GT(whole->row("train.tokens_per_second").value, 0);
  BOOST_CHECK_EQUAL(whole->row("train.tokens").value, 24.0 * 8 * 32);
  const auto meta = json::parse(read_file(tmp / "whole" / "artifact.json"));
  BOOST_CHECK_EQUAL(meta["corpus"], "synthetic");
  BOOST_CHECK_EQUAL(meta["fractions"]["0.5"], "step12");

  // Interrupted (Ctrl-C after ~10 steps), then run again with the same scratch directory: the
  // result equals the uninterrupted run.
  auto interrupted = make("resumed");
  interrupted->cancel_after = 10;
  BOOST_CHECK_EXCEPTION(run_plugin("source.pretrain", *interrupted), std::runtime_error,
                        [](const auto& e) { return std::string(e.what()).find("interrupted") == 0; });
  fs::remove_all(tmp / "resumed");  // the engine discards the unpublished output
  auto again = make("resumed");
  run_plugin("source.pretrain", *again);
  BOOST_CHECK(read_file(tmp / "resumed" / "model.safetensors") == read_file(tmp / "whole" / "model.safetensors"));
  BOOST_CHECK(read_file(tmp / "resumed" / "step12" / "model.safetensors") ==
              read_file(tmp / "whole" / "step12" / "model.safetensors"));
  BOOST_CHECK_EQUAL(again->row("train.loss", "step24").value, whole->row("train.loss", "step24").value);

  // Distil the half-way checkpoint (a collection member, as "pretrain:frac0.5" resolves), on the
  // KL term alone: this 12-step teacher is far from the data, so DistilBERT's LM term would pull
  // the student away from it (test_distill.cpp covers the full recipe).
  TestContext distill("distill",
                      with_defaults("compress.distill", {{"max_steps", 20}, {"batch_size", 8}, {"seq_len", 32},
                                                         {"lr", 1e-3}, {"validation_batches", 2}, {"alpha", 1.0},
                                                         {"beta", 0.0}, {"gamma", 0.0}, {"temperature", 1.0}}),
                      tmp / "student", tmp / "student.scratch", 7, 1);
  distill.add_input("teacher", tmp / "whole" / "frac0.5", "model", "pretrain:frac0.5");
  distill.add_input("corpus", tmp / "corpus", "corpus", "synthetic");
  run_plugin("compress.distill", distill);
  const auto student = rt::load_model(tmp / "student");
  BOOST_CHECK_EQUAL(student->config().num_layers, 1);
  BOOST_CHECK_EQUAL(distill.row("distill.student_parameters").value, static_cast<double>(student->parameter_count()));
  BOOST_CHECK_EQUAL(distill.row("distill.teacher_parameters").value, static_cast<double>(model->parameter_count()));
  BOOST_CHECK_LT(distill.row("validation.kl", "step20").value, distill.row("validation.kl", "step0").value);
  BOOST_CHECK(fs::is_regular_file(tmp / "student" / "tokenizer.json"));
  const auto smeta = json::parse(read_file(tmp / "student" / "artifact.json"));
  BOOST_CHECK_EQUAL(smeta["teacher"], "pretrain:frac0.5");
  BOOST_CHECK_EQUAL(smeta["teacher_layers"], json::array({0}));
}

BOOST_AUTO_TEST_CASE(pretrain_with_a_data_set_tokenizer) {
  // tokenizer = a data set of the data manager: GPT-NeoX-20B's tokenizer from the mirror.
  TempDir tmp;
  ::setenv("BIASLAB_DATA_DIR", (tmp / "data-cache").c_str(), 1);
  ::setenv("BIASLAB_OFFLINE", "1", 1);
  write_tiny_corpus(tmp / "corpus", 100);
  TestContext ctx("pretrain",
                  with_defaults("source.pretrain", {{"tokenizer", "tokenizers/gpt-neox-20b"}, {"hidden_size", 16},
                                                    {"num_heads", 2}, {"seq_len", 16}, {"batch_size", 2},
                                                    {"max_steps", 2}, {"validation_batches", 1}}),
                  tmp / "out", tmp / "scratch");
  ctx.add_input("corpus", tmp / "corpus", "corpus", "tiny");
  run_plugin("source.pretrain", ctx);
  const auto model = rt::load_model(tmp / "out");
  const auto tok = rt::load_tokenizer(tmp / "out");
  BOOST_CHECK_EQUAL(model->config().vocab_size, static_cast<std::int64_t>(tok->vocab_size()));
  BOOST_CHECK_EQUAL(tok->vocab_size(), 50277u);
  BOOST_CHECK(tok->encode("Hello world", false).ids == (std::vector<std::int64_t>{12092, 1533}));  // GPT-NeoX ids
  BOOST_CHECK_EQUAL(*model->config().eos_token_id, 0);  // <|endoftext|>
}

BOOST_AUTO_TEST_CASE(pipeline_over_checkpoint_members_runs_in_the_engine) {
  // corpus.synthetic -> source.pretrain -> compress.distill of the checkpoints at half and all of
  // training, addressed as collection members "pretrain:frac${f}" from a grid.
  TempDir tmp;
  const std::string text = R"(
[pipeline]
name = "train-chain"
seed = 3

[grid]
f = [0.5, 1.0]

[nodes.corpus]
plugin = "corpus.synthetic"
sentences = 800

[nodes.pretrain]
plugin = "source.pretrain"
input = "corpus"
hidden_size = 32
seq_len = 32
batch_size = 4
max_steps = 8
checkpoint_fractions = [0.5, 1.0]
validation_batches = 1

[nodes.student]
plugin = "compress.distill"
inputs = { teacher = "pretrain:frac${f}", corpus = "corpus" }
seq_len = 32
batch_size = 4
max_steps = 4
validation_batches = 1
)";
  biaslab::Cache cache(tmp / "cache");
  auto plan = biaslab::make_plan(biaslab::parse_pipeline_text(text, "chain.toml"), training_plugins(), cache);
  BOOST_CHECK_EQUAL(plan.tasks.size(), 4u);  // corpus, pretrain, two students
  biaslab::ExecOptions options;
  options.threads = 1;
  options.logger = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  const auto outcome = biaslab::execute(plan, cache, options);
  for (std::size_t t = 0; t < plan.tasks.size(); ++t) {
    BOOST_TEST_INFO(plan.tasks[t].node << ": " << outcome.tasks[t].error);
    BOOST_CHECK(outcome.tasks[t].state == biaslab::TaskState::ok);
  }
  std::set<std::string> teachers;
  for (std::size_t t = 0; t < plan.tasks.size(); ++t) {
    if (plan.tasks[t].node != "student") continue;
    const auto meta = json::parse(read_file(cache.entry_dir(plan.tasks[t].key) / "artifact" / "artifact.json"));
    teachers.insert(meta["teacher"].get<std::string>());
  }
  BOOST_CHECK(teachers == (std::set<std::string>{"pretrain:frac0.5", "pretrain:frac1.0"}));
  // Planned again: everything cached; the training scratch state is gone.
  const auto again = biaslab::make_plan(biaslab::parse_pipeline_text(text, "chain.toml"), training_plugins(), cache);
  for (const auto& t : again.tasks) BOOST_CHECK(!t.will_run);
  for (const auto& t : plan.tasks) BOOST_CHECK(!fs::exists(cache.scratch_dir(t.key)));
  // Parameters are checked against the schemas at plan time.
  auto bad = text;
  bad.replace(bad.find("hidden_size = 32"), 16, "architecture = \"gpt3\"");
  BOOST_CHECK_EXCEPTION(biaslab::make_plan(biaslab::parse_pipeline_text(bad, "bad.toml"), training_plugins(), cache),
                        biaslab::DiagnosticError,
                        [](const auto& e) { return std::string(e.what()).find("architecture") != std::string::npos; });
}

BOOST_AUTO_TEST_SUITE_END()
