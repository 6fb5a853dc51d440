#include "biaslab/eval/sequence_matcher.hpp"

#include <algorithm>
#include <stdexcept>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace biaslab::eval {

std::string_view opcode_tag_name(OpcodeTag tag) {
  switch (tag) {
    case OpcodeTag::equal:
      return "equal";
    case OpcodeTag::replace:
      return "replace";
    case OpcodeTag::remove:
      return "delete";
    case OpcodeTag::insert:
      return "insert";
  }
  return "?";
}

namespace {

// CPython's SequenceMatcher state for one (a, b) pair; see difflib.py for the algorithm.
template <class T>
class Matcher {
 public:
  Matcher(std::span<const T> a, std::span<const T> b, const SequenceMatcherOptions& options,
          const std::function<bool(const T&)>& isjunk)
      : a_(a), b_(b) {
    for (std::size_t j = 0; j < b_.size(); ++j) b2j_[b_[j]].push_back(j);
    if (isjunk) {
      for (const auto& [element, indices] : b2j_)
        if (isjunk(element)) junk_.insert(element);
      for (const auto& element : junk_) b2j_.erase(element);
    }
    if (options.autojunk && b_.size() >= 200) {
      const std::size_t ntest = b_.size() / 100 + 1;
      std::vector<T> popular;
      for (const auto& [element, indices] : b2j_)
        if (indices.size() > ntest) popular.push_back(element);
      for (const auto& element : popular) b2j_.erase(element);
    }
  }

  MatchingBlock find_longest_match(std::size_t alo, std::size_t ahi, std::size_t blo, std::size_t bhi) const {
    std::size_t besti = alo, bestj = blo, bestsize = 0;
    // j2len[j] = length of the longest match ending with a[i-1] and b[j].
    std::unordered_map<std::size_t, std::size_t> j2len, newj2len;
    for (std::size_t i = alo; i < ahi; ++i) {
      newj2len.clear();
      const auto found = b2j_.find(a_[i]);
      if (found != b2j_.end()) {
        for (std::size_t j : found->second) {
          if (j < blo) continue;
          if (j >= bhi) break;
          std::size_t previous = 0;
          if (j > 0) {
            const auto it = j2len.find(j - 1);
            if (it != j2len.end()) previous = it->second;
          }
          const std::size_t k = previous + 1;
          newj2len[j] = k;
          if (k > bestsize) {
            besti = i - k + 1;
            bestj = j - k + 1;
            bestsize = k;
          }
        }
      }
      std::swap(j2len, newj2len);
    }
    // Extend over non-junk neighbours (popular elements included), then suck up adjacent junk.
    while (besti > alo && bestj > blo && !is_junk(b_[bestj - 1]) && a_[besti - 1] == b_[bestj - 1]) {
      --besti;
      --bestj;
      ++bestsize;
    }
    while (besti + bestsize < ahi && bestj + bestsize < bhi && !is_junk(b_[bestj + bestsize]) &&
           a_[besti + bestsize] == b_[bestj + bestsize])
      ++bestsize;
    while (besti > alo && bestj > blo && is_junk(b_[bestj - 1]) && a_[besti - 1] == b_[bestj - 1]) {
      --besti;
      --bestj;
      ++bestsize;
    }
    while (besti + bestsize < ahi && bestj + bestsize < bhi && is_junk(b_[bestj + bestsize]) &&
           a_[besti + bestsize] == b_[bestj + bestsize])
      ++bestsize;
    return {besti, bestj, bestsize};
  }

  std::vector<MatchingBlock> matching_blocks() const {
    const std::size_t la = a_.size(), lb = b_.size();
    std::vector<std::tuple<std::size_t, std::size_t, std::size_t, std::size_t>> queue{{0, la, 0, lb}};
    std::vector<MatchingBlock> blocks;
    while (!queue.empty()) {
      const auto [alo, ahi, blo, bhi] = queue.back();
      queue.pop_back();
      const MatchingBlock x = find_longest_match(alo, ahi, blo, bhi);
      if (x.size == 0) continue;
      blocks.push_back(x);
      if (alo < x.a && blo < x.b) queue.emplace_back(alo, x.a, blo, x.b);
      if (x.a + x.size < ahi && x.b + x.size < bhi) queue.emplace_back(x.a + x.size, ahi, x.b + x.size, bhi);
    }
    std::sort(blocks.begin(), blocks.end(), [](const MatchingBlock& l, const MatchingBlock& r) {
      return std::tie(l.a, l.b, l.size) < std::tie(r.a, r.b, r.size);
    });
    std::vector<MatchingBlock> merged;
    std::size_t i1 = 0, j1 = 0, k1 = 0;
    for (const auto& block : blocks) {
      if (i1 + k1 == block.a && j1 + k1 == block.b) {
        k1 += block.size;
      } else {
        if (k1) merged.push_back({i1, j1, k1});
        i1 = block.a;
        j1 = block.b;
        k1 = block.size;
      }
    }
    if (k1) merged.push_back({i1, j1, k1});
    merged.push_back({la, lb, 0});
    return merged;
  }

 private:
  bool is_junk(const T& element) const { return !junk_.empty() && junk_.count(element) > 0; }

  std::span<const T> a_, b_;
  std::unordered_map<T, std::vector<std::size_t>> b2j_;
  std::unordered_set<T> junk_;
};

template <class T>
std::function<bool(const T&)> adapt(const std::function<bool(T)>& predicate) {
  if (!predicate) return {};
  return [predicate](const T& value) { return predicate(value); };
}

}  // namespace

MatchingBlock find_longest_match(std::span<const std::int64_t> a, std::span<const std::int64_t> b, std::size_t alo,
                                 std::size_t ahi, std::size_t blo, std::size_t bhi,
                                 const SequenceMatcherOptions& options, const TokenJunkPredicate& isjunk) {
  if (alo > ahi || ahi > a.size() || blo > bhi || bhi > b.size())
    throw std::out_of_range("find_longest_match: ranges outside the sequences");
  return Matcher<std::int64_t>(a, b, options, adapt(isjunk)).find_longest_match(alo, ahi, blo, bhi);
}

std::vector<MatchingBlock> get_matching_blocks(std::span<const std::int64_t> a, std::span<const std::int64_t> b,
                                               const SequenceMatcherOptions& options,
                                               const TokenJunkPredicate& isjunk) {
  return Matcher<std::int64_t>(a, b, options, adapt(isjunk)).matching_blocks();
}

std::vector<MatchingBlock> get_matching_blocks(std::span<const std::string> a, std::span<const std::string> b,
                                               const SequenceMatcherOptions& options,
                                               const StringJunkPredicate& isjunk) {
  return Matcher<std::string>(a, b, options, isjunk).matching_blocks();
}

std::vector<Opcode> opcodes_from_matching_blocks(std::span<const MatchingBlock> blocks) {
  std::vector<Opcode> answer;
  std::size_t i = 0, j = 0;
  for (const auto& block : blocks) {
    if (block.a < i || block.b < j)
      throw std::invalid_argument("opcodes_from_matching_blocks: blocks are not increasing");
    if (i < block.a && j < block.b) {
      answer.push_back({OpcodeTag::replace, i, block.a, j, block.b});
    } else if (i < block.a) {
      answer.push_back({OpcodeTag::remove, i, block.a, j, block.b});
    } else if (j < block.b) {
      answer.push_back({OpcodeTag::insert, i, block.a, j, block.b});
    }
    i = block.a + block.size;
    j = block.b + block.size;
    if (block.size) answer.push_back({OpcodeTag::equal, block.a, i, block.b, j});
  }
  return answer;
}

std::vector<Opcode> get_opcodes(std::span<const std::int64_t> a, std::span<const std::int64_t> b,
                                const SequenceMatcherOptions& options, const TokenJunkPredicate& isjunk) {
  const auto blocks = get_matching_blocks(a, b, options, isjunk);
  return opcodes_from_matching_blocks(blocks);
}

std::vector<Opcode> get_opcodes(std::span<const std::string> a, std::span<const std::string> b,
                                const SequenceMatcherOptions& options, const StringJunkPredicate& isjunk) {
  const auto blocks = get_matching_blocks(a, b, options, isjunk);
  return opcodes_from_matching_blocks(blocks);
}

}  // namespace biaslab::eval
