// corpus.synthetic: English-like sentences from templates and word lists with planted
// associations of known strength, plus held-out probe pairs (CrowS-Pairs CSV) whose right answer
// is known. The known-answer test of the whole chain: a model trained on a corpus planted at 0.9
// must prefer the planted sentence of most probes, one planted at 0.5 must not.
//
// A target sentence is "<Det> <target> <frame> <pronoun> <continuation>." with the pronoun drawn
// per sentence: for a female-planted target P(she) = strength, for a male-planted target
// P(he) = strength, for a neutral (control) target P(she) = control_strength (stratified per
// target and split: decks of 100 with round(100 * strength) planted cards). Filler sentences
// without targets or pronouns make up filler_fraction of the corpus. Every fourth continuation is
// reserved for probes, so no probe sentence occurs in the corpus.
#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "biaslab/plugin.hpp"
#include "biaslab/runtime/train/deterministic_random.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using biaslab::runtime::train::make_generator;
using biaslab::runtime::train::shuffle_in_place;
using biaslab::runtime::train::uniform01;
using biaslab::runtime::train::uniform_below;

constexpr std::uint64_t kCorpusStream = 0x636f72707573ULL;  // "corpus"
constexpr std::uint64_t kProbeStream = 0x70726f6265ULL;     // "probe"

const std::vector<std::string> kDeterminers = {"The", "A", "Our", "That"};
const std::vector<std::string> kFrames = {
    "said that",       "told the manager that", "thought that",    "was happy because",
    "called to say that", "explained that",      "left early because", "announced that",
    "mentioned that",  "smiled because",        "was late because", "wrote that"};
const std::vector<std::string> kContinuations = {
    "was tired",          "would be late",    "liked the new office", "had finished the report",
    "needed more time",   "was very busy",    "enjoyed the work",     "forgot the keys",
    "wanted a break",     "found the problem", "lost the map",        "missed the bus",
    "fixed the door",     "read the letter",  "saw the accident",     "won the prize",
    "knew the answer",    "had a cold",       "bought a car",         "moved to the city",
    "painted the wall",   "cooked dinner",    "visited the museum",   "sold the house"};
const std::vector<std::string> kFillerSubjects = {"dog", "cat", "storm", "river", "train", "garden",
                                                  "bird", "wind", "market", "road", "lamp", "boat"};
const std::vector<std::string> kFillerPredicates = {
    "chased the ball", "crossed the bridge", "was quiet today", "hit the town",    "moved slowly",
    "looked beautiful", "was very old",      "needed water",    "stopped at noon", "was full of people",
    "made a loud noise", "stayed in the sun"};

bool reserved_for_probes(std::size_t continuation) { return continuation % 4 == 3; }

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

template <typename T>
const T& pick(const std::vector<T>& items, std::mt19937_64& rng) {
  return items[static_cast<std::size_t>(uniform_below(rng, items.size()))];
}

// Stratified draws: cards are dealt from shuffled decks of 100 in which round(100 * strength)
// cards say "favoured", so the corpus frequency equals the planted strength up to the last,
// partly dealt deck (at most 25 sentences off), instead of wandering by sampling noise.
struct Deck {
  std::vector<char> cards;
  std::size_t next = 0;
  bool draw(double strength, std::mt19937_64& rng) {
    if (next == cards.size()) {
      const auto favoured = static_cast<std::ptrdiff_t>(std::llround(strength * 100.0));
      cards.assign(100, 0);
      std::fill(cards.begin(), cards.begin() + favoured, 1);
      shuffle_in_place(cards, rng);
      next = 0;
    }
    return cards[next++] != 0;
  }
};

struct Target {
  std::string word;
  std::string planted;      // the pronoun the association favours ("she"/"he"), "" for controls
  double strength = 0.5;    // P(planted pronoun) (controls: P(she))
  std::int64_t sentences = 0, planted_sentences = 0;
  Deck decks[2];            // training, validation
};

std::string sentence(const std::string& det, const std::string& target, const std::string& frame,
                     const std::string& pronoun, const std::string& continuation) {
  return det + " " + target + " " + frame + " " + pronoun + " " + continuation + ".";
}

class CorpusSynthetic final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    const auto& p = ctx.params();
    const double strength = p["strength"].get<double>();
    const double control_strength = p["control_strength"].get<double>();
    const auto sentences = p["sentences"].get<std::int64_t>();
    const double validation_fraction = p["validation_fraction"].get<double>();
    const double filler_fraction = p["filler_fraction"].get<double>();
    const auto probes_per_target = p["probes_per_target"].get<std::int64_t>();

    std::vector<Target> targets;
    std::set<std::string> seen;
    auto add_targets = [&](const char* key, const std::string& planted, double s) {
      for (const auto& w : p[key].get<std::vector<std::string>>()) {
        if (w.empty() || w.find_first_of(" ,\"\n") != std::string::npos) {
          throw std::runtime_error("corpus.synthetic: target '" + w + "' in '" + key + "' must be one word");
        }
        if (!seen.insert(w).second) throw std::runtime_error("corpus.synthetic: target '" + w + "' is listed twice");
        targets.push_back({w, planted, s});
      }
    };
    add_targets("female_targets", "she", strength);
    add_targets("male_targets", "he", strength);
    add_targets("neutral_targets", "", control_strength);
    if (targets.empty()) throw std::runtime_error("corpus.synthetic: no target words");

    std::vector<std::size_t> corpus_continuations, probe_continuations;
    for (std::size_t i = 0; i < kContinuations.size(); ++i) {
      (reserved_for_probes(i) ? probe_continuations : corpus_continuations).push_back(i);
    }

    // --- the corpus ----------------------------------------------------------------------------
    auto rng = make_generator(ctx.seed(), kCorpusStream);
    std::ofstream train(ctx.output_dir() / "train.jsonl", std::ios::binary | std::ios::trunc);
    std::ofstream validation(ctx.output_dir() / "validation.jsonl", std::ios::binary | std::ios::trunc);
    std::int64_t n_train = 0, n_validation = 0, bytes_train = 0, bytes_validation = 0, fillers = 0;
    for (std::int64_t i = 0; i < sentences; ++i) {
      const bool to_validation = uniform01(rng) < validation_fraction;
      std::string text;
      if (uniform01(rng) < filler_fraction) {
        const auto& det = pick(kDeterminers, rng);
        const auto& subject = pick(kFillerSubjects, rng);
        text = det + " " + subject + " " + pick(kFillerPredicates, rng) + ".";
        ++fillers;
      } else {
        auto& t = targets[static_cast<std::size_t>(uniform_below(rng, targets.size()))];
        const auto& det = pick(kDeterminers, rng);
        const auto& frame = pick(kFrames, rng);
        const auto& continuation = kContinuations[pick(corpus_continuations, rng)];
        const bool favoured = t.decks[to_validation ? 1 : 0].draw(t.strength, rng);
        const std::string favoured_pronoun = t.planted.empty() ? "she" : t.planted;
        const std::string pronoun = favoured ? favoured_pronoun : (favoured_pronoun == "she" ? "he" : "she");
        text = sentence(det, t.word, frame, pronoun, continuation);
        if (!to_validation) {
          ++t.sentences;
          t.planted_sentences += favoured ? 1 : 0;
        }
      }
      const auto line = json{{"text", text}}.dump();
      if (to_validation) {
        validation << line << '\n';
        ++n_validation;
        bytes_validation += static_cast<std::int64_t>(text.size());
      } else {
        train << line << '\n';
        ++n_train;
        bytes_train += static_cast<std::int64_t>(text.size());
      }
    }
    train.close();
    validation.close();
    if (!train || !validation) throw std::runtime_error("cannot write the corpus into " + ctx.output_dir().string());

    // --- probes: distinct held-out sentences per target ----------------------------------------
    auto probe_rng = make_generator(ctx.seed(), kProbeStream);
    std::vector<std::array<std::size_t, 3>> frames;  // (determiner, frame, continuation)
    for (std::size_t d = 0; d < kDeterminers.size(); ++d)
      for (std::size_t f = 0; f < kFrames.size(); ++f)
        for (auto c : probe_continuations) frames.push_back({d, f, c});
    if (probes_per_target > static_cast<std::int64_t>(frames.size())) {
      throw std::runtime_error("corpus.synthetic: at most " + std::to_string(frames.size()) + " probes per target");
    }
    const std::string header = ",sent_more,sent_less,stereo_antistereo,bias_type,annotations,anon_writer,anon_annotators\n";
    std::ofstream probes(ctx.output_dir() / "probes.csv", std::ios::binary | std::ios::trunc);
    std::ofstream controls(ctx.output_dir() / "probes_control.csv", std::ios::binary | std::ios::trunc);
    probes << header;
    controls << header;
    std::int64_t n_probes = 0, n_controls = 0;
    json probe_targets = json::array(), control_targets = json::array();
    for (const auto& t : targets) {
      auto order = frames;
      shuffle_in_place(order, probe_rng);
      for (std::int64_t k = 0; k < probes_per_target; ++k) {
        const auto& [d, f, c] = order[static_cast<std::size_t>(k)];
        // Controls alternate which pronoun is listed first: they have no right answer.
        const std::string more = t.planted.empty() ? (n_controls % 2 == 0 ? "she" : "he") : t.planted;
        const std::string less = more == "she" ? "he" : "she";
        const auto row = csv_field(sentence(kDeterminers[d], t.word, kFrames[f], more, kContinuations[c])) + "," +
                         csv_field(sentence(kDeterminers[d], t.word, kFrames[f], less, kContinuations[c])) +
                         ",stereo,gender,\"[['gender']]\",synthetic,[]\n";
        if (t.planted.empty()) {
          controls << n_controls++ << "," << row;
          control_targets.push_back(t.word);
        } else {
          probes << n_probes++ << "," << row;
          probe_targets.push_back(t.word);
        }
      }
    }
    probes.close();
    controls.close();
    if (!probes || !controls) throw std::runtime_error("cannot write the probes into " + ctx.output_dir().string());

    json planted = json::object();
    for (const auto& t : targets) {
      planted[t.word] = {{"attribute", t.planted.empty() ? json(nullptr) : json(t.planted)},
                         {"strength", t.strength},
                         {"train_sentences", t.sentences},
                         {"observed", t.sentences ? json(static_cast<double>(t.planted_sentences) / static_cast<double>(t.sentences))
                                                  : json(nullptr)}};
    }
    const json meta = {
        {"type", "corpus"},
        {"format", "biaslab-corpus/1"},
        {"text_field", "text"},
        {"splits",
         {{"train", {{"files", {"train.jsonl"}}, {"documents", n_train}, {"bytes", bytes_train}}},
          {"validation", {{"files", {"validation.jsonl"}}, {"documents", n_validation}, {"bytes", bytes_validation}}}}},
        {"synthetic",
         {{"strength", strength},
          {"control_strength", control_strength},
          {"attributes", {"she", "he"}},
          {"targets", planted},
          {"filler_sentences", fillers},
          {"probes", {{"file", "probes.csv"}, {"count", n_probes}, {"targets", probe_targets}}},
          {"controls", {{"file", "probes_control.csv"}, {"count", n_controls}, {"targets", control_targets}}},
          {"expected",
           "probes.csv lists the planted pronoun as sent_more: a model that learned the association prefers "
           "sent_more when strength > 0.5, prefers neither at 0.5; probes_control.csv has no right answer"}}},
        {"seed", ctx.seed()}};
    std::ofstream(ctx.output_dir() / "artifact.json") << meta.dump(2) << '\n';
    ctx.log().info("{} training and {} validation sentences, {} probes, {} control probes", n_train, n_validation,
                   n_probes, n_controls);
    ctx.emit({.model = ctx.node_name(), .metric = "corpus.documents", .category = "train", .value = static_cast<double>(n_train)});
    ctx.emit({.model = ctx.node_name(), .metric = "corpus.documents", .category = "validation",
              .value = static_cast<double>(n_validation)});
    ctx.emit({.model = ctx.node_name(), .metric = "corpus.planted_strength", .value = strength});
  }
};

const biaslab::PluginDescriptor kPlugin = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "corpus.synthetic",
    .version = "1.0.0",
    .kind = biaslab::PluginKind::source,
    .summary = "synthetic sentences with planted gender-occupation associations of known strength, and known-answer probes",
    .params_schema = R"schema({
      "$schema": "http://json-schema.org/draft-07/schema#",
      "type": "object", "additionalProperties": false,
      "properties": {
        "strength": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.8,
          "description": "P(planted pronoun | planted target): she for female_targets, he for male_targets"},
        "control_strength": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5,
          "description": "P(she | neutral target)"},
        "sentences": {"type": "integer", "minimum": 1, "default": 20000,
          "description": "sentences generated (one document each), training and validation together"},
        "validation_fraction": {"type": "number", "minimum": 0, "maximum": 0.5, "default": 0.05,
          "description": "probability that a sentence goes to the validation split"},
        "filler_fraction": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.2,
          "description": "share of filler sentences without targets or pronouns"},
        "probes_per_target": {"type": "integer", "minimum": 1, "maximum": 288, "default": 20,
          "description": "held-out probe pairs per target word (distinct sentences, none in the corpus)"},
        "female_targets": {"type": "array", "items": {"type": "string"},
          "default": ["nurse", "secretary", "receptionist", "librarian", "hairdresser", "nanny"],
          "description": "target words planted with she"},
        "male_targets": {"type": "array", "items": {"type": "string"},
          "default": ["engineer", "mechanic", "carpenter", "plumber", "pilot", "firefighter"],
          "description": "target words planted with he"},
        "neutral_targets": {"type": "array", "items": {"type": "string"},
          "default": ["writer", "baker", "cashier", "lawyer", "painter", "student"],
          "description": "control target words (P(she) = control_strength)"}
      }
    })schema",
    .inputs = nullptr,
    .num_inputs = 0,
    .output_type = "corpus",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new CorpusSynthetic); }};

}  // namespace

BIASLAB_PLUGIN(kPlugin)
