#pragma once
// Artifacts are what flows along pipeline edges. Each one is a directory in the content-addressed
// cache plus a type tag; the engine checks at plan time that connected nodes agree on the type.
// Typed loaders (e.g. biaslab::runtime::load_model) turn an Artifact into objects.
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "biaslab/export.hpp"

namespace biaslab {

// The artifact types the engine knows. Plugins may declare others; "any" matches everything.
namespace artifact_type {
inline constexpr std::string_view model = "model";      // HF-layout directory (config.json + safetensors)
inline constexpr std::string_view corpus = "corpus";    // text corpus (train/validation jsonl shards)
inline constexpr std::string_view dataset = "dataset";  // benchmark data set
inline constexpr std::string_view results = "results";  // metric results (results.jsonl, examples.jsonl)
inline constexpr std::string_view any = "any";
}  // namespace artifact_type

BIASLAB_API bool artifact_types_compatible(std::string_view produced, std::string_view accepted);

struct Artifact {
  std::string type;              // one of artifact_type, or a plugin-defined tag
  std::filesystem::path path;    // directory holding the artifact (read-only for consumers)
  std::string key;               // content address: hash of producer, params, inputs and seed
  std::string producer;          // pipeline node that made it; metrics use it as the model label
  nlohmann::json meta = nlohmann::json::object();  // <path>/artifact.json written by the producer
};

}  // namespace biaslab
