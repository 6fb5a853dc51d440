// Training throughput (tokens/s: forward, backward, gradient clipping, AdamW step) of GPT-NeoX
// models of ~1M and ~10M parameters on a byte-level vocabulary, batch 16 x 128 tokens, run through
// the same loop source.pretrain uses (checkpoint writing is not timed).
//
//   OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 bench_train [--benchmark_filter=...] [--threads=N]
// --threads sets torch's intra-op threads (default 1); set OPENBLAS_NUM_THREADS to match.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include "biaslab/runtime/train/gpt_neox_lm.hpp"
#include "biaslab/runtime/train/training_loop.hpp"

namespace {

namespace train = biaslab::runtime::train;
namespace fs = std::filesystem;

constexpr std::int64_t kVocab = 258, kBatch = 16, kSeq = 128, kSteps = 10;

struct Size {
  const char* name;
  std::int64_t hidden, layers, heads;
};
// 0.86M and 9.9M parameters (embeddings are 2 x 258 x hidden).
constexpr Size kSizes[] = {{"gpt_neox_1M", 128, 4, 4}, {"gpt_neox_10M", 320, 8, 8}};

void BM_train(benchmark::State& state, Size size) {
  std::mt19937_64 rng(0);
  std::vector<std::int32_t> stream(200000);
  for (auto& t : stream) t = static_cast<std::int32_t>(2 + rng() % 256);
  train::ObjectiveTokens tokens;
  tokens.vocab_size = kVocab;
  const train::BatchSource data(std::move(stream), tokens, kSeq, 0);
  train::GptNeoxConfig config;
  config.vocab_size = kVocab;
  config.hidden_size = size.hidden;
  config.num_layers = size.layers;
  config.num_heads = size.heads;
  config.intermediate_size = 4 * size.hidden;
  train::LoopOptions options;
  options.optimizer.max_steps = kSteps;
  options.optimizer.batch_size = kBatch;
  options.checkpoints.log_spaced = false;
  options.checkpoints.every = 0;
  options.validation_batches = 0;
  options.save_state_every = 0;
  const auto objective = train::language_modeling_objective(nullptr, kBatch, 0, kSeq);
  const auto work = fs::temp_directory_path() / ("biaslab-bench-train-" + std::to_string(::getpid()));
  std::int64_t parameters = 0;
  for (auto _ : state) {
    fs::remove_all(work);
    torch::manual_seed(0);
    train::GptNeoxLM model(config);
    parameters = model.parameter_count();
    const auto result = train::run_training_loop(model, data, objective, options, work, "bench");
    state.SetIterationTime(result.train_seconds);
  }
  fs::remove_all(work);
  state.SetItemsProcessed(state.iterations() * kSteps * kBatch * kSeq);
  state.counters["parameters"] = static_cast<double>(parameters);
  state.counters["threads"] = torch::get_num_threads();
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) threads = std::atoi(argv[i] + 10);
  }
  torch::set_num_threads(threads);
  for (const auto& size : kSizes) {
    benchmark::RegisterBenchmark(size.name, BM_train, size)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(2);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
