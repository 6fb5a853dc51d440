#include "biaslab/runtime/tokenizers/tokenizer.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

namespace biaslab::runtime {

Tokenizer::~Tokenizer() = default;

std::vector<Encoding> Tokenizer::encode_batch(const std::vector<std::string>& texts, bool add_special_tokens) const {
  std::vector<Encoding> results(texts.size());
  constexpr std::size_t kMinTextsPerThread = 32;
  const std::size_t hardware = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t threads = std::min(hardware, texts.size() / kMinTextsPerThread);
  if (threads <= 1) {
    for (std::size_t i = 0; i < texts.size(); ++i) results[i] = encode(texts[i], add_special_tokens);
    return results;
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto worker = [&] {
    for (std::size_t i = next++; i < texts.size(); i = next++) {
      try {
        results[i] = encode(texts[i], add_special_tokens);
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = texts.size();
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (std::size_t t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
  return results;
}

}  // namespace biaslab::runtime
