// `biaslab score --model PATH [--prefix-bos] [--masked] [--batch-size N]`: scores the sentences on
// stdin (one per line) and writes one JSON object per line.
//   causal: log p(token | preceding tokens) per token; the first token is scored only with
//           --prefix-bos (conditioned on the BOS token, which is not itself scored).
//   masked: pseudo-log-likelihood terms, masking one token at a time (special tokens added by the
//           tokenizer are kept and not scored).
#include <iostream>
#include <string>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/scoring.hpp"
#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "commands.hpp"

namespace biaslab::cli {

namespace po = boost::program_options;

namespace {

void print_usage(std::ostream& out, const po::options_description& options) {
  out << "usage: biaslab score --model PATH [--prefix-bos] [--masked] [--batch-size N] < sentences.txt\n\n"
         "Scores each line of stdin with the model and writes one JSON object per line:\n"
         "  {\"text\", \"ids\", \"tokens\", \"logprobs\" (one per token, null where not scored), \"sum\"}\n"
         "Causal LMs: log p(token | previous tokens); the first token needs --prefix-bos.\n"
         "Masked LMs (--masked): pseudo-log-likelihood, each token masked alone.\n\n"
      << options;
}

struct Line {
  std::string text;
  runtime::Encoding encoding;
};

nlohmann::json scored_line(const Line& line, const std::vector<std::optional<float>>& logprobs,
                           const std::vector<std::int64_t>& prefix) {
  nlohmann::json lp = nlohmann::json::array();
  double sum = 0;
  for (const auto& v : logprobs) {
    if (v) {
      lp.push_back(static_cast<double>(*v));
      sum += *v;
    } else {
      lp.push_back(nullptr);
    }
  }
  nlohmann::json out = {{"text", line.text},
                        {"ids", line.encoding.ids},
                        {"tokens", line.encoding.tokens},
                        {"logprobs", lp},
                        {"sum", sum}};
  if (!prefix.empty()) out["prefix_ids"] = prefix;
  return out;
}

}  // namespace

int cmd_score(const Args& args, const GlobalOptions& g) {
  po::options_description options("options");
  options.add_options()("help,h", "show this help")("model", po::value<std::string>(), "HF model directory")(
      "tokenizer", po::value<std::string>(), "tokenizer file or directory (default: the model directory)")(
      "prefix-bos", "causal: condition every sentence on the BOS token (scores the first token too)")(
      "masked", "masked LM pseudo-log-likelihood (required for BERT-style models)")(
      "batch-size", po::value<std::int64_t>()->default_value(16), "sequences per forward pass")(
      "dtype", po::value<std::string>()->default_value("float32"), "float32 | bfloat16 | float16");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "biaslab score: " << e.what() << "\n";
    print_usage(std::cerr, options);
    return 2;
  }
  if (vm.count("help")) {
    print_usage(std::cout, options);
    return 0;
  }
  if (!vm.count("model")) {
    std::cerr << "biaslab score: --model is required\n";
    print_usage(std::cerr, options);
    return 2;
  }
  const auto batch_size = vm["batch-size"].as<std::int64_t>();
  if (batch_size <= 0) {
    std::cerr << "biaslab score: --batch-size must be positive\n";
    return 2;
  }
  const bool masked = vm.count("masked") != 0;
  const bool prefix_bos = vm.count("prefix-bos") != 0;
  try {
    runtime::LoadOptions load;
    load.dtype = runtime::parse_dtype(vm["dtype"].as<std::string>());
    load.device = torch::Device(g.device);
    load.threads = g.threads;
    const std::string model_path = vm["model"].as<std::string>();
    auto model = runtime::load_model(model_path, load);
    auto tokenizer = runtime::load_tokenizer(vm.count("tokenizer") ? vm["tokenizer"].as<std::string>() : model_path);
    if (masked != model->is_masked()) {
      std::cerr << "biaslab score: " << model->architecture() << " is a " << (model->is_masked() ? "masked" : "causal")
                << " LM; " << (model->is_masked() ? "pass --masked" : "drop --masked") << "\n";
      return 2;
    }
    if (masked && prefix_bos) {
      std::cerr << "biaslab score: --prefix-bos applies to causal LMs only\n";
      return 2;
    }
    std::vector<std::int64_t> prefix;
    std::int64_t mask_id = -1;
    if (prefix_bos) {
      auto bos = tokenizer->bos_id();
      if (!bos) bos = model->config().bos_token_id;
      if (!bos) {
        std::cerr << "biaslab score: neither the tokenizer nor config.json defines a BOS token\n";
        return 2;
      }
      prefix = {*bos};
    }
    if (masked) {
      if (!tokenizer->mask_id()) {
        std::cerr << "biaslab score: the tokenizer has no mask token\n";
        return 2;
      }
      mask_id = *tokenizer->mask_id();
    }
    runtime::ScoringOptions scoring;
    scoring.batch_size = batch_size;

    // Lines are scored in chunks so long inputs stream.
    constexpr std::size_t kChunk = 256;
    std::size_t line_number = 0;
    std::vector<Line> chunk;
    auto flush = [&]() {
      if (chunk.empty()) return;
      std::vector<std::vector<std::int64_t>> ids;
      for (const auto& l : chunk) ids.push_back(l.encoding.ids);
      if (masked) {
        // Score the tokens the text produced, not the ones the post-processor added.
        std::vector<std::vector<std::int64_t>> positions;
        for (const auto& l : chunk) {
          std::vector<std::int64_t> p;
          for (std::size_t i = 0; i < l.encoding.size(); ++i) {
            if (i >= l.encoding.special_tokens_mask.size() || l.encoding.special_tokens_mask[i] == 0) {
              p.push_back(static_cast<std::int64_t>(i));
            }
          }
          positions.push_back(p);
        }
        auto terms = runtime::pseudo_log_likelihood(*model, ids, mask_id, positions, scoring);
        for (std::size_t k = 0; k < chunk.size(); ++k) {
          std::vector<std::optional<float>> lp(chunk[k].encoding.size());
          for (std::size_t j = 0; j < positions[k].size(); ++j) lp[static_cast<std::size_t>(positions[k][j])] = terms[k][j];
          std::cout << scored_line(chunk[k], lp, {}).dump() << "\n";
        }
      } else {
        auto scores = runtime::score_causal(*model, ids, prefix, scoring);
        for (std::size_t k = 0; k < chunk.size(); ++k) {
          std::vector<std::optional<float>> lp(chunk[k].encoding.size());
          for (std::size_t j = 0; j < scores[k].logprobs.size(); ++j) {
            lp[scores[k].first_scored + j] = scores[k].logprobs[j];
          }
          std::cout << scored_line(chunk[k], lp, prefix).dump() << "\n";
        }
      }
      std::cout.flush();
      chunk.clear();
    };
    std::string text;
    while (std::getline(std::cin, text)) {
      ++line_number;
      if (!text.empty() && text.back() == '\r') text.pop_back();
      Line line{text, {}};
      try {
        // Causal sentences are scored as raw text (the BOS, if wanted, is the prefix).
        line.encoding = tokenizer->encode(text, /*add_special_tokens=*/masked);
      } catch (const std::exception& e) {
        std::cerr << "biaslab score: stdin line " << line_number << ": " << e.what() << "\n";
        return 1;
      }
      chunk.push_back(std::move(line));
      if (chunk.size() >= kChunk) flush();
    }
    flush();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "biaslab score: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace biaslab::cli
