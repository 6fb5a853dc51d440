// `biaslab tokenize --tokenizer PATH [--special]`: one JSON object per stdin line with the ids,
// token strings and byte offsets HF tokenizers would produce.
#include <boost/program_options.hpp>

#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "cli/commands.hpp"

namespace biaslab::cli {
namespace po = boost::program_options;

int cmd_tokenize(const Args& args, const GlobalOptions& /*global*/) {
  po::options_description options(
      "Usage: biaslab tokenize --tokenizer PATH [--special]\n"
      "Reads UTF-8 text lines on stdin and writes one JSON object per line:\n"
      "  {\"ids\": [...], \"tokens\": [...], \"offsets\": [[start, end], ...]}\n"
      "Offsets are byte offsets into the line (as HF tokenizers' Rust API reports them).\n"
      "The line terminator '\\n' is not part of the text; a '\\r' before it is.\n\n"
      "Options");
  std::string tokenizer_path;
  options.add_options()
      ("help,h", "print this help")
      ("tokenizer,t", po::value<std::string>(&tokenizer_path)->value_name("PATH"),
       "model directory or tokenizer file (tokenizer.json, vocab.json, vocab.txt, tokenizer.model)")
      ("special,s", "add special tokens (BOS/CLS/SEP...) like tokenizer(text) in transformers");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "biaslab tokenize: " << e.what() << "\n" << options << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << options << "\n";
    return 0;
  }
  if (tokenizer_path.empty()) {
    std::cerr << "biaslab tokenize: --tokenizer PATH is required\n" << options << "\n";
    return 2;
  }
  std::unique_ptr<runtime::Tokenizer> tokenizer;
  try {
    tokenizer = runtime::load_tokenizer(tokenizer_path);
  } catch (const std::exception& e) {
    std::cerr << "biaslab tokenize: cannot load tokenizer: " << e.what() << "\n";
    return 2;
  }
  const bool special = vm.count("special") > 0;
  std::string line;
  std::size_t line_number = 0;
  while (std::getline(std::cin, line)) {
    ++line_number;
    runtime::Encoding encoding;
    try {
      encoding = tokenizer->encode(line, special);
    } catch (const std::exception& e) {
      std::cerr << "biaslab tokenize: line " << line_number << ": " << e.what() << "\n";
      return 1;
    }
    nlohmann::json offsets = nlohmann::json::array();
    for (const auto& [start, end] : encoding.offsets) offsets.push_back({start, end});
    const nlohmann::json row = {{"ids", encoding.ids}, {"tokens", encoding.tokens}, {"offsets", std::move(offsets)}};
    std::cout << row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  std::cout.flush();
  return 0;
}

}  // namespace biaslab::cli
