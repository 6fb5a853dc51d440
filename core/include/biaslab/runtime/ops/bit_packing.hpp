#pragma once
// Dense packing of small unsigned integer codes (2, 3, 4 or 8 bits) into bytes.
// Layout: every row is a little-endian bit stream; code j of a row occupies bits
// [j*bits, (j+1)*bits) of the stream. Rows of 2/3/4-bit codes are padded to a multiple of 8
// codes, so 8 codes fill exactly `bits` bytes (4-bit: two codes per byte, low nibble first;
// 2-bit: four per byte; 3-bit: 8 codes in 3 bytes); 8-bit codes are one byte each, unpadded.
#include <cstdint>

#include <torch/torch.h>

#include "biaslab/export.hpp"

namespace biaslab::runtime::ops {

// Throws std::invalid_argument unless bits is 2, 3, 4 or 8.
BIASLAB_API void check_code_bits(int bits);
// Bytes one packed row of `cols` codes occupies.
BIASLAB_API std::int64_t packed_row_bytes(std::int64_t cols, int bits);
// codes: integer tensor [rows, cols] with values in [0, 2^bits) -> uint8 [rows, packed_row_bytes].
BIASLAB_API torch::Tensor pack_codes(const torch::Tensor& codes, int bits);
// Inverse of pack_codes: uint8 [rows, packed_row_bytes(cols, bits)] -> uint8 [rows, cols].
BIASLAB_API torch::Tensor unpack_codes(const torch::Tensor& packed, int bits, std::int64_t cols);

}  // namespace biaslab::runtime::ops
