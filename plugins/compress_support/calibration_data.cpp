// Calibration windows: text from a corpus artifact or a data-mirror file, tokenized with the
// model's tokenizer, cut into nsamples windows of seqlen tokens.
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "biaslab/data/data_manager.hpp"
#include "biaslab/data/missing_data.hpp"
#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "compress_support.hpp"

namespace biaslab::compressors {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The "text" fields of a JSON Lines file.
std::vector<std::string> read_jsonl_texts(const fs::path& path, const std::string& field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::vector<std::string> texts;
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json record;
    try {
      record = json::parse(line);
    } catch (const json::parse_error& e) {
      throw std::runtime_error(path.string() + ":" + std::to_string(number) + ": " + e.what());
    }
    if (!record.contains(field) || !record[field].is_string())
      throw std::runtime_error(path.string() + ":" + std::to_string(number) + ": no string field '" + field + "'");
    texts.push_back(record[field].get<std::string>());
  }
  return texts;
}

// '<data set>/<file>' (longest registered data-set name, also tried with "corpora/") or an
// absolute path.
fs::path resolve_data_file(const std::string& spec) {
  if (spec.empty()) throw std::invalid_argument("calibration_data is empty");
  const fs::path as_path(spec);
  if (as_path.is_absolute()) {
    if (!fs::is_regular_file(as_path)) throw std::runtime_error("calibration file " + spec + " does not exist");
    return as_path;
  }
  data::DataManager manager;
  for (const std::string& candidate : {spec, "corpora/" + spec}) {
    if (const auto split = data::split_data_file_spec(manager.registry(), candidate))
      return manager.file(split->first, split->second);
  }
  std::vector<std::string> known;
  for (const auto& set : manager.registry().datasets()) known.push_back(set.name);
  throw std::runtime_error("calibration_data '" + spec + "' is neither an absolute path nor '<data set>/<file>' of a known data set (" +
                           join(known) + ")");
}

}  // namespace

CalibrationData load_calibration_data(const CompressionRun& run) {
  auto& ctx = run.ctx();
  const auto& params = ctx.params();
  const auto& model = run.model();
  CalibrationData data;

  std::string text;
  const auto corpus = ctx.inputs("calibration");
  if (!corpus.empty()) {
    const auto& artifact = corpus.front();
    const auto split = params.value("calibration_split", std::string("train"));
    const std::string field = artifact.meta.value("text_field", std::string("text"));
    std::vector<fs::path> files;
    if (artifact.meta.contains("splits") && artifact.meta["splits"].contains(split)) {
      for (const auto& f : artifact.meta["splits"][split].value("files", json::array()))
        files.push_back(artifact.path / f.get<std::string>());
    } else {
      files.push_back(artifact.path / (split + ".jsonl"));
    }
    std::vector<std::string> texts;
    for (const auto& file : files) {
      if (!fs::exists(file))
        throw std::runtime_error(run.plugin() + ": calibration corpus '" + artifact.producer + "' has no split '" + split +
                                 "' (" + file.string() + ")");
      auto part = read_jsonl_texts(file, field);
      texts.insert(texts.end(), part.begin(), part.end());
    }
    text = join(texts, "\n\n");
    data.source = {{"corpus", artifact.producer}, {"split", split}, {"documents", texts.size()}};
  } else {
    const auto spec = params.value("calibration_data", std::string());
    const auto path = resolve_data_file(spec);
    if (path.extension() == ".jsonl") {
      const auto texts = read_jsonl_texts(path, "text");
      text = join(texts, "\n\n");
      data.source = {{"data", spec}, {"documents", texts.size()}};
    } else {
      text = read_file(path);
      data.source = {{"data", spec}};
    }
  }
  if (text.empty()) throw std::invalid_argument(run.plugin() + ": the calibration text is empty");

  const auto model_dir = ctx.inputs("model").front().path;
  const auto tokenizer = runtime::load_tokenizer(model_dir);
  const auto ids = tokenizer->encode(text, true).ids;

  auto seqlen = params.value("seqlen", std::int64_t{0});
  if (seqlen == 0) {
    seqlen = 2048;
    const auto positions = model.config().max_position_embeddings;
    // RoBERTa reserves two position ids for its padding offset.
    const auto usable = model.config().architecture == runtime::Architecture::roberta ? positions - 2 : positions;
    if (usable > 0) seqlen = std::min(seqlen, usable);
  }
  const auto nsamples = params.value("nsamples", std::int64_t{128});
  const auto sampling = params.value("sampling", std::string("random"));
  const auto total = static_cast<std::int64_t>(ids.size());
  if (total < seqlen)
    throw std::invalid_argument(run.plugin() + ": calibration text has " + std::to_string(total) +
                                " tokens, fewer than seqlen = " + std::to_string(seqlen));
  if (sampling == "contiguous") {
    if (nsamples * seqlen > total)
      throw std::invalid_argument(run.plugin() + ": contiguous sampling needs nsamples * seqlen = " +
                                  std::to_string(nsamples * seqlen) + " tokens, the calibration text has " +
                                  std::to_string(total));
    for (std::int64_t i = 0; i < nsamples; ++i)
      data.samples.emplace_back(ids.begin() + i * seqlen, ids.begin() + (i + 1) * seqlen);
  } else if (sampling == "random") {
    std::mt19937_64 rng(ctx.seed());
    std::uniform_int_distribution<std::int64_t> start(0, total - seqlen);
    for (std::int64_t i = 0; i < nsamples; ++i) {
      const auto s = start(rng);
      data.samples.emplace_back(ids.begin() + s, ids.begin() + s + seqlen);
    }
  } else {
    throw std::invalid_argument(run.plugin() + ": sampling must be 'random' or 'contiguous', got '" + sampling + "'");
  }
  data.source["tokens"] = total;
  data.source["nsamples"] = nsamples;
  data.source["seqlen"] = seqlen;
  data.source["sampling"] = sampling;
  ctx.log().info("{}: {} calibration windows of {} tokens from {} ({} tokens)", run.plugin(), nsamples, seqlen,
                 data.source.dump(), total);
  return data;
}

}  // namespace biaslab::compressors
