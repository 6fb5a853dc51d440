// Whole-model forward throughput and model size of the compressed formats on a Pythia-70m-shaped
// GPT-NeoX (6 layers, hidden 512, 8 heads, MLP 2048, vocab 50304, untied head; random weights
// written in HF layout to a temporary directory): float32, bfloat16, dynamic int8 (per-tensor,
// oneDNN; compress.dynamic_int8's default, which like torch's quantize_dynamic also quantizes the
// output head; and with the head left float32) and weight-only int4 (RTN, group 128, head float32:
// compress.rtn's default). Ratios are against float32 measured in the same process.
//
//   OMP_NUM_THREADS=1 bench_model [--threads N] [--batch B] [--tokens T] [--reps R]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/runtime/compress/rtn.hpp"
#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/ops/compressed_formats.hpp"
#include "biaslab/runtime/ops/dynamic_int8_linear.hpp"
#include "biaslab/runtime/safetensors.hpp"

namespace {

namespace fs = std::filesystem;
namespace rt = biaslab::runtime;

constexpr std::int64_t kHidden = 512, kLayers = 6, kHeads = 8, kInter = 2048, kVocab = 50304;

fs::path write_pythia70m_shaped(const fs::path& dir) {
  fs::create_directories(dir);
  nlohmann::json config = {{"architectures", {"GPTNeoXForCausalLM"}},
                           {"model_type", "gpt_neox"},
                           {"hidden_size", kHidden},
                           {"num_hidden_layers", kLayers},
                           {"num_attention_heads", kHeads},
                           {"intermediate_size", kInter},
                           {"vocab_size", kVocab},
                           {"max_position_embeddings", 2048},
                           {"rotary_pct", 0.25},
                           {"rotary_emb_base", 10000},
                           {"layer_norm_eps", 1e-5},
                           {"hidden_act", "gelu"},
                           {"use_parallel_residual", true},
                           {"tie_word_embeddings", false},
                           {"bos_token_id", 0},
                           {"eos_token_id", 0},
                           {"torch_dtype", "float32"}};
  std::ofstream(dir / "config.json") << config.dump(2);
  torch::manual_seed(0);
  std::map<std::string, torch::Tensor> t;
  auto normal = [](std::vector<std::int64_t> shape) { return torch::randn(shape) * 0.02; };
  t["gpt_neox.embed_in.weight"] = normal({kVocab, kHidden});
  t["embed_out.weight"] = normal({kVocab, kHidden});
  t["gpt_neox.final_layer_norm.weight"] = torch::ones({kHidden});
  t["gpt_neox.final_layer_norm.bias"] = torch::zeros({kHidden});
  for (std::int64_t i = 0; i < kLayers; ++i) {
    const auto p = "gpt_neox.layers." + std::to_string(i) + ".";
    for (const char* ln : {"input_layernorm", "post_attention_layernorm"}) {
      t[p + ln + ".weight"] = torch::ones({kHidden});
      t[p + ln + ".bias"] = torch::zeros({kHidden});
    }
    t[p + "attention.query_key_value.weight"] = normal({3 * kHidden, kHidden});
    t[p + "attention.query_key_value.bias"] = torch::zeros({3 * kHidden});
    t[p + "attention.dense.weight"] = normal({kHidden, kHidden});
    t[p + "attention.dense.bias"] = torch::zeros({kHidden});
    t[p + "mlp.dense_h_to_4h.weight"] = normal({kInter, kHidden});
    t[p + "mlp.dense_h_to_4h.bias"] = torch::zeros({kInter});
    t[p + "mlp.dense_4h_to_h.weight"] = normal({kHidden, kInter});
    t[p + "mlp.dense_4h_to_h.bias"] = torch::zeros({kHidden});
  }
  rt::write_safetensors(dir / "model.safetensors", t);
  return dir;
}

double median_seconds(const rt::LanguageModel& model, const torch::Tensor& ids, int reps) {
  (void)model.forward(ids);  // warm-up (oneDNN primitive creation, allocator)
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    const auto start = std::chrono::steady_clock::now();
    (void)model.forward(ids);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

std::int64_t file_bytes(const fs::path& dir) { return static_cast<std::int64_t>(fs::file_size(dir / "model.safetensors")); }

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, reps = 5;
  std::int64_t batch = 4, tokens = 128;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--batch") batch = std::atoll(argv[i + 1]);
    else if (a == "--tokens") tokens = std::atoll(argv[i + 1]);
    else if (a == "--reps") reps = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: bench_model [--threads N] [--batch B] [--tokens T] [--reps R]\n");
      return 2;
    }
  }
  torch::set_num_threads(threads);
  rt::ops::register_compressed_formats();
  const auto root = fs::temp_directory_path() / ("biaslab-bench-model-" + std::to_string(::getpid()));
  const auto base = write_pythia70m_shaped(root / "fp32");
  const auto ids = torch::randint(0, kVocab, {batch, tokens}, torch::kInt64);

  struct Row {
    std::string name;
    double seconds;
    std::int64_t storage, file;
  };
  std::vector<Row> rows;
  auto measure = [&](const std::string& name, const rt::LanguageModel& model) {
    const auto dir = root / name;
    model.save_pretrained(dir, false);
    rows.push_back({name, median_seconds(model, ids, reps), model.storage_bytes(), file_bytes(dir)});
  };

  measure("fp32", *rt::load_model(base));
  {
    rt::LoadOptions o;
    o.dtype = torch::kBFloat16;
    measure("bf16", *rt::load_model(base, o));
  }
  // Activation ranges (docs/quantization.md): per_sequence (default) calls the int8 kernel once per
  // sequence and computes attention per sequence; per_token is exact integer arithmetic on float32
  // GEMMs; per_batch is one kernel call over the batch.
  using Range = rt::ops::ActivationRange;
  for (const auto& [name, head, range] : {std::tuple{"dynamic_int8", true, Range::per_sequence},
                                          std::tuple{"dynamic_int8_fp32head", false, Range::per_sequence},
                                          std::tuple{"dynamic_int8_per_token", true, Range::per_token},
                                          std::tuple{"dynamic_int8_per_batch", true, Range::per_batch}}) {
    auto m = rt::load_model(base);
    rt::ops::DynamicInt8Options options;
    options.activation_range = range;
    for (auto* slot : m->linear_layers(head))
      slot->set_kernel(rt::ops::DynamicInt8Linear::quantize(slot->kernel()->weight(), slot->kernel()->bias(), options));
    measure(name, *m);
  }
  {
    auto m = rt::load_model(base);
    rt::ops::WeightQuantConfig config;
    config.bits = 4;
    config.group_size = 128;
    for (auto* slot : m->linear_layers(false)) slot->set_kernel(rt::compress::quantize_rtn(*slot->kernel(), config));
    measure("weight_only_int4", *m);
  }

  std::printf("Pythia-70m-shaped GPT-NeoX forward, batch %lld x %lld tokens, %d thread(s), median of %d\n",
              static_cast<long long>(batch), static_cast<long long>(tokens), threads, reps);
  std::printf("%-22s %10s %12s %9s %14s %9s %12s\n", "format", "ms", "tokens/s", "speed", "storage bytes", "size", "file bytes");
  const auto& ref = rows.front();
  for (const auto& r : rows)
    std::printf("%-22s %10.2f %12.0f %8.2fx %14lld %8.3fx %12lld\n", r.name.c_str(), r.seconds * 1e3,
                static_cast<double>(batch * tokens) / r.seconds, ref.seconds / r.seconds, static_cast<long long>(r.storage),
                static_cast<double>(r.storage) / static_cast<double>(ref.storage), static_cast<long long>(r.file));
  fs::remove_all(root);
  return 0;
}
