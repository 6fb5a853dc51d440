#pragma once
// Exact re-implementation of Python's difflib.SequenceMatcher(isjunk, a, b, autojunk) for token-id and
// string sequences: find_longest_match (earliest-in-a, then earliest-in-b longest block, extended over
// non-junk then junk neighbours), get_matching_blocks (recursive split, sorted, adjacent blocks merged,
// sentinel (len(a), len(b), 0) last) and get_opcodes. With autojunk, when len(b) >= 200 every element
// occurring more than len(b) // 100 + 1 times in b is "popular" and dropped from the index (it can still
// extend a match, as in CPython). The CrowS-Pairs references call SequenceMatcher(None, ids1, ids2) on
// token ids rendered as strings; equality of the decimal strings is equality of the ids, so the int64
// overloads give the same alignment.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <biaslab/export.hpp>

namespace biaslab::eval {

enum class OpcodeTag { equal, replace, remove, insert };  // remove = difflib's 'delete'

// "equal", "replace", "delete", "insert" (difflib's spelling).
BIASLAB_API std::string_view opcode_tag_name(OpcodeTag tag);

struct MatchingBlock {
  std::size_t a = 0;  // start in a
  std::size_t b = 0;  // start in b
  std::size_t size = 0;
  friend bool operator==(const MatchingBlock&, const MatchingBlock&) = default;
};

struct Opcode {
  OpcodeTag tag = OpcodeTag::equal;
  std::size_t i1 = 0, i2 = 0;  // a[i1:i2]
  std::size_t j1 = 0, j2 = 0;  // b[j1:j2]
  friend bool operator==(const Opcode&, const Opcode&) = default;
};

struct SequenceMatcherOptions {
  bool autojunk = true;  // difflib's default
};

using TokenJunkPredicate = std::function<bool(std::int64_t)>;
using StringJunkPredicate = std::function<bool(const std::string&)>;

// find_longest_match(alo, ahi, blo, bhi) on a fresh matcher.
BIASLAB_API MatchingBlock find_longest_match(std::span<const std::int64_t> a, std::span<const std::int64_t> b,
                                             std::size_t alo, std::size_t ahi, std::size_t blo, std::size_t bhi,
                                             const SequenceMatcherOptions& options = {},
                                             const TokenJunkPredicate& isjunk = {});

BIASLAB_API std::vector<MatchingBlock> get_matching_blocks(std::span<const std::int64_t> a,
                                                           std::span<const std::int64_t> b,
                                                           const SequenceMatcherOptions& options = {},
                                                           const TokenJunkPredicate& isjunk = {});
BIASLAB_API std::vector<MatchingBlock> get_matching_blocks(std::span<const std::string> a,
                                                           std::span<const std::string> b,
                                                           const SequenceMatcherOptions& options = {},
                                                           const StringJunkPredicate& isjunk = {});

BIASLAB_API std::vector<Opcode> get_opcodes(std::span<const std::int64_t> a, std::span<const std::int64_t> b,
                                            const SequenceMatcherOptions& options = {},
                                            const TokenJunkPredicate& isjunk = {});
BIASLAB_API std::vector<Opcode> get_opcodes(std::span<const std::string> a, std::span<const std::string> b,
                                            const SequenceMatcherOptions& options = {},
                                            const StringJunkPredicate& isjunk = {});

// get_opcodes() from the output of get_matching_blocks() (which must end with the sentinel).
BIASLAB_API std::vector<Opcode> opcodes_from_matching_blocks(std::span<const MatchingBlock> blocks);

}  // namespace biaslab::eval
