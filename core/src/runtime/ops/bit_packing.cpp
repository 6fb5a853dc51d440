#include "biaslab/runtime/ops/bit_packing.hpp"

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace biaslab::runtime::ops {
namespace {
constexpr std::int64_t kCodesPerChunk = 8;  // 8 codes of b bits = b whole bytes

std::int64_t chunks(std::int64_t cols) { return (cols + kCodesPerChunk - 1) / kCodesPerChunk; }
}  // namespace

void check_code_bits(int bits) {
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
    throw std::invalid_argument("bit packing: unsupported code width " + std::to_string(bits) +
                                " bits (supported: 2, 3, 4, 8)");
}

std::int64_t packed_row_bytes(std::int64_t cols, int bits) {
  check_code_bits(bits);
  if (cols < 0) throw std::invalid_argument("bit packing: negative column count");
  if (bits == 8) return cols;  // one code per byte, no padding
  return chunks(cols) * bits;
}

torch::Tensor pack_codes(const torch::Tensor& codes, int bits) {
  check_code_bits(bits);
  if (codes.dim() != 2 || codes.is_floating_point())
    throw std::invalid_argument("bit packing: codes must be an integer [rows, cols] tensor");
  torch::NoGradGuard no_grad;
  const auto rows = codes.size(0);
  const auto cols = codes.size(1);
  auto wide = codes.to(torch::kLong);
  if (wide.numel() > 0 && (wide.min().item<std::int64_t>() < 0 || wide.max().item<std::int64_t>() >= (1 << bits)))
    throw std::invalid_argument("bit packing: codes out of range for " + std::to_string(bits) + " bits");
  if (bits == 8) return wide.to(torch::kByte).contiguous();
  const auto n_chunks = chunks(cols);
  wide = torch::constant_pad_nd(wide, {0, n_chunks * kCodesPerChunk - cols}, 0).view({rows, n_chunks, kCodesPerChunk});
  // One 8*bits-bit word per chunk (at most 32 bits), then split into its bytes.
  auto shifts = torch::arange(kCodesPerChunk, wide.options()) * bits;
  auto words = torch::bitwise_left_shift(wide, shifts).sum(-1, /*keepdim=*/true);
  auto byte_shifts = torch::arange(bits, wide.options()) * 8;
  auto bytes = torch::bitwise_and(torch::bitwise_right_shift(words, byte_shifts), 0xFF);
  return bytes.reshape({rows, n_chunks * bits}).to(torch::kByte).contiguous();
}

torch::Tensor unpack_codes(const torch::Tensor& packed, int bits, std::int64_t cols) {
  check_code_bits(bits);
  if (packed.dim() != 2 || packed.scalar_type() != torch::kByte || packed.size(1) != packed_row_bytes(cols, bits)) {
    std::ostringstream msg;
    msg << "bit packing: expected uint8 [rows, " << packed_row_bytes(cols, bits) << "] for " << cols << " codes of "
        << bits << " bits, got " << packed.sizes() << " " << packed.dtype();
    throw std::invalid_argument(msg.str());
  }
  torch::NoGradGuard no_grad;
  if (bits == 8) return packed.contiguous();
  const auto rows = packed.size(0);
  if (bits == 2 || bits == 4) {
    // Whole codes per byte, low bits first: byte-wise shifts on uint8 (no widening).
    const auto mask = (1 << bits) - 1;
    std::vector<torch::Tensor> parts;
    for (int shift = 0; shift < 8; shift += bits)
      parts.push_back(torch::bitwise_and(torch::bitwise_right_shift(packed, shift), mask));
    return torch::stack(parts, -1).view({rows, -1}).narrow(1, 0, cols).contiguous();
  }
  const auto n_chunks = chunks(cols);
  auto bytes = packed.to(torch::kLong).view({rows, n_chunks, bits});
  auto byte_shifts = torch::arange(bits, bytes.options()) * 8;
  auto words = torch::bitwise_left_shift(bytes, byte_shifts).sum(-1, /*keepdim=*/true);
  auto shifts = torch::arange(kCodesPerChunk, bytes.options()) * bits;
  auto codes = torch::bitwise_and(torch::bitwise_right_shift(words, shifts), (1 << bits) - 1);
  return codes.reshape({rows, n_chunks * kCodesPerChunk}).narrow(1, 0, cols).to(torch::kByte).contiguous();
}

}  // namespace biaslab::runtime::ops
