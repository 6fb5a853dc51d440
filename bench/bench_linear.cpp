// Throughput of one linear layer in every kernel format, at Pythia-70m shapes (hidden 512,
// intermediate 2048, 128 tokens): fp32 and bf16 float layers, dynamic int8 (onednn, qnnpack) and
// weight-only int4 (group 128, with and without the dequantized-weight cache). After the runs a
// table gives each kernel's time relative to fp32 of the same shape, measured in this process.
//
//   OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 bench_linear [--benchmark_filter=...] [--threads=N]
// --threads sets torch's intra-op threads (default 1). fp32 matmuls run in the system BLAS
// (OpenBLAS on Debian), whose thread pool is sized from the environment when the library loads,
// so set OPENBLAS_NUM_THREADS to the same number for a like-for-like comparison.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "biaslab/runtime/compress/rtn.hpp"
#include "biaslab/runtime/linear.hpp"
#include "biaslab/runtime/ops/dynamic_int8_linear.hpp"

namespace {

using biaslab::runtime::FloatLinear;
using biaslab::runtime::LinearKernel;
namespace ops = biaslab::runtime::ops;

constexpr std::int64_t kTokens = 128;

struct Shape {
  const char* name;
  std::int64_t in, out;
};
constexpr Shape kShapes[] = {{"mlp_up_512x2048", 512, 2048}, {"mlp_down_2048x512", 2048, 512}};

struct Kind {
  std::string name;
  std::function<std::shared_ptr<LinearKernel>(const torch::Tensor& w, const torch::Tensor& b)> make;
  torch::ScalarType input_dtype = torch::kFloat;
};

std::vector<Kind> kinds() {
  std::vector<Kind> out;
  out.push_back({"fp32", [](auto& w, auto& b) { return std::make_shared<FloatLinear>(w, b); }});
  out.push_back({"bf16",
                 [](auto& w, auto& b) {
                   return std::make_shared<FloatLinear>(w.to(torch::kBFloat16), b.to(torch::kBFloat16));
                 },
                 torch::kBFloat16});
  for (const auto& engine : ops::available_quantized_engines()) {
    if (engine != "onednn" && engine != "qnnpack") continue;
    out.push_back({"dynamic_int8_" + engine, [engine](auto& w, auto& b) {
                     return ops::DynamicInt8Linear::quantize(w, b, {ops::Int8WeightScheme::per_tensor, engine, true});
                   }});
  }
  out.push_back({"int4_g128", [](auto& w, auto& b) {
                   return biaslab::runtime::compress::quantize_rtn(FloatLinear(w, b), {4, 128, false}, false);
                 }});
  out.push_back({"int4_g128_cached", [](auto& w, auto& b) {
                   return biaslab::runtime::compress::quantize_rtn(FloatLinear(w, b), {4, 128, false}, true);
                 }});
  return out;
}

void run_linear(benchmark::State& state, const Shape& shape, const Kind& kind) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  const auto w = torch::randn({shape.out, shape.in}) * 0.02;
  const auto b = torch::randn({shape.out}) * 0.02;
  const auto layer = kind.make(w, b);
  const auto x = torch::randn({1, kTokens, shape.in}).to(kind.input_dtype);
  for (auto _ : state) {
    auto y = layer->forward(x);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(kTokens * state.iterations()),
                                                  benchmark::Counter::kIsRate);
  state.counters["weight_bytes"] = static_cast<double>(layer->storage_bytes());
}

// Console output plus, at the end, time per call relative to fp32 for each shape.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& run : runs) {
      if (run.error_occurred) continue;
      // With --benchmark_repetitions the medians are used, otherwise the single run.
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (!median && run.run_type != Run::RT_Iteration) continue;
      auto name = run.run_name.function_name;
      const auto unit = benchmark::GetTimeUnitMultiplier(run.time_unit);
      auto& slot = median ? medians_[name] : times_[name];
      slot = {run.GetAdjustedRealTime() / unit, run.GetAdjustedCPUTime() / unit};
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    // CPU time (all threads of the process) is the steadier measure on a shared machine.
    const auto& times = medians_.empty() ? times_ : medians_;
    std::printf("\nTime per call relative to fp32 (same shape, same process; %s; < 1 is faster):\n",
                medians_.empty() ? "single run" : "medians of the repetitions");
    std::printf("  %-20s %-22s %10s %8s %10s %8s\n", "shape", "kernel", "real ms", "ratio", "cpu ms", "ratio");
    for (const auto& shape : kShapes) {
      const auto base = times.find(std::string("linear/") + shape.name + "/fp32");
      if (base == times.end()) continue;
      for (const auto& [name, t] : times) {
        const auto prefix = std::string("linear/") + shape.name + "/";
        if (name.rfind(prefix, 0) != 0) continue;
        std::printf("  %-20s %-22s %10.3f %8.2f %10.3f %8.2f\n", shape.name, name.substr(prefix.size()).c_str(),
                    t.real * 1e3, t.real / base->second.real, t.cpu * 1e3, t.cpu / base->second.cpu);
      }
    }
  }

 private:
  struct Times {
    double real = 0, cpu = 0;
  };
  std::map<std::string, Times> times_;
  std::map<std::string, Times> medians_;
};

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      threads = std::atoi(argv[i] + 10);
    } else {
      args.push_back(argv[i]);
    }
  }
  at::set_num_threads(threads);
  static const auto all_kinds = kinds();
  for (const auto& shape : kShapes)
    for (const auto& kind : all_kinds)
      benchmark::RegisterBenchmark((std::string("linear/") + shape.name + "/" + kind.name).c_str(),
                                   [&shape, &kind](benchmark::State& s) { run_linear(s, shape, kind); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  const char* blas_threads = std::getenv("OPENBLAS_NUM_THREADS");
  std::printf("intra-op threads: %d, OPENBLAS_NUM_THREADS=%s\n", at::get_num_threads(),
              blas_threads ? blas_threads : "(unset: OpenBLAS uses all cores)");
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
