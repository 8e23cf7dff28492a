// AMX bf16 matmul for prefill-sized segments (Isa::kAmx: Sapphire Rapids and later), used by
// matmul_avx512.cpp for bf16 x · bf16 w when a segment has at least kAmxMinRows rows.
//
// y[m, n] = Σ_k x[m, k] · w[n, k] is computed transposed, C[n, m] = W · Xᵀ, so that the weights
// are read as they are stored: a 16 × 32 bf16 block of W (16 output channels, 32 k, row stride
// k) is exactly an AMX "A" tile, and nothing is repacked at load. Xᵀ must be in the "B" layout,
// pairs of k interleaved per row ([k / 2][16 rows][2]); each call packs its input rows that way
// once (AmxPackedRows, 16 rows per block, zero rows past the segment's end) before the work is
// split, and every item then streams its weight rows past the packed blocks:
//   per 32 output channels × 32 rows:  4 C tiles (fp32 16 × 16) accumulate over k,
//   per 32 k:                         2 W tiles, 2 X tiles, 4 tdpbf16ps (16·16·32 products each)
// The C tiles are stored, transposed into y with the bias and the output rounding. Columns past
// the last multiple of 16 of the item go to the vdpbf16ps kernel (Bf16DotKernel).
// Math: bf16 products are exact in fp32 and accumulated in fp32, k ascending within each tile
// (bf16 subnormals read as zero, as vdpbf16ps does); only the summation order can differ from
// the reference, within the bound the reordered bf16 tests check.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu/bf16_round_avx512.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/simd_matmul.h"

namespace sy::cpu::avx512 {
namespace {

// Segments with fewer rows stay on vdpbf16ps: a 16-row X tile would be mostly padding.
constexpr int64_t kAmxMinRows = 16;
constexpr int64_t kAmxTileRows = 16;  // rows of every tile here (16 × 64 bytes)
constexpr int64_t kAmxK = 32;         // bf16 k per tile row (64 bytes)

// Which problems the AMX path takes: bf16 · bf16 with k a whole number of tiles (a W tile must
// not read past the end of its row).
bool amx_eligible(const simd::MatmulProblem& p) {
  return active_isa() >= Isa::kAmx && !p.packed && p.x_dtype == DType::kBF16 && p.w_dtype == DType::kBF16 &&
         p.k % kAmxK == 0;
}

// X rows of every segment with >= kAmxMinRows rows, in 16-row blocks of the B-tile layout:
// block b holds [k / 2][16][2] bf16 (one 64-byte tile row per k pair), rows past the segment's
// end zero.
struct AmxPackedRows {
  std::vector<uint32_t> words;      // [blocks, k / 2, 16] bf16 pairs
  std::vector<int64_t> first_block;  // [segments]: the segment's first block, or -1 (not on AMX)
  int64_t blocks = 0, k_pairs = 0;

  void plan(const simd::MatmulProblem& p) {
    k_pairs = p.k / 2;
    first_block.assign(p.segments.size(), -1);
    blocks = 0;
    for (size_t s = 0; s < p.segments.size(); ++s)
      if (p.segments[s].rows >= kAmxMinRows) {
        first_block[s] = blocks;
        blocks += (p.segments[s].rows + kAmxTileRows - 1) / kAmxTileRows;
      }
    words.resize(size_t(blocks * k_pairs * kAmxTileRows));
  }
  const uint32_t* block(int64_t b) const { return words.data() + b * k_pairs * kAmxTileRows; }

  // Thread t of nt packs blocks t, t + nt, ...: a 16 × (k / 2) transpose of 32-bit pairs, one
  // gather of pair q from the block's 16 rows per output row (rows past the segment read as 0).
  void pack(const simd::MatmulProblem& p, int t, int nt) {
    // Lane i reads row i: element offsets i · ldx, scaled by 2 bytes in the gather.
    const __m512i row_offsets = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                   _mm512_set1_epi32(int32_t(p.ldx)));
    for (size_t s = 0; s < p.segments.size(); ++s) {
      if (first_block[s] < 0) continue;
      const simd::RowSegment& seg = p.segments[s];
      const int64_t n_blocks = (seg.rows + kAmxTileRows - 1) / kAmxTileRows;
      for (int64_t b = 0; b < n_blocks; ++b) {
        if ((first_block[s] + b) % nt != t) continue;
        uint32_t* out = words.data() + (first_block[s] + b) * k_pairs * kAmxTileRows;
        const __mmask16 valid = __mmask16((1u << std::min<int64_t>(16, seg.rows - 16 * b)) - 1);
        const uint16_t* rows = static_cast<const uint16_t*>(p.x) + (seg.row0 + 16 * b) * p.ldx;
        for (int64_t q = 0; q < k_pairs; ++q)
          _mm512_storeu_si512(out + q * kAmxTileRows,
                             _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), valid, row_offsets, rows + 2 * q, 2));
      }
    }
  }
};

// The tile configuration every item loads: palette 1, tiles 0-7 all 16 rows × 64 bytes
// (0-3: C accumulators, 4-5: W, 6-7: X).
struct alignas(64) AmxTileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
  AmxTileConfig() {
    for (int i = 0; i < 8; ++i) {
      bytes_per_row[i] = 64;
      rows[i] = uint8_t(kAmxTileRows);
    }
  }
};

// C[n, m] (16 × 16 fp32, row n = output channel) into y[row0 + m, col0 + n] for m < rows: tile
// column m (one gather) is output row m's 16 channels; plus the bias, rounded once on store as
// store_output does.
void store_tile_transposed(const simd::MatmulProblem& p, int expert, const float (*c)[16], int64_t row0, int64_t rows,
                           int64_t col0) {
  const __m512i column = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(16));
  alignas(64) float bias[16] = {};
  if (p.bias)
    for (int n = 0; n < 16; ++n) bias[n] = load_f(p.bias, p.bias_dtype, int64_t(expert) * p.n + col0 + n);
  const __m512 bias_v = _mm512_load_ps(bias);
  for (int64_t m = 0; m < rows; ++m) {
    __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xffff, column, &c[0][m], 4);
    if (p.bias) v = _mm512_add_ps(v, bias_v);  // (adding +0 would turn a -0 result into +0)
    const int64_t at = (row0 + m) * p.ldy + col0;
    if (p.y_dtype == DType::kBF16)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<uint16_t*>(p.y) + at),
                          _mm512_cvtepi32_epi16(simd::bf16_bits(v)));
    else if (p.y_dtype == DType::kF32)
      _mm512_storeu_ps(static_cast<float*>(p.y) + at, v);
    else
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<uint16_t*>(p.y) + at),
                          _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
}

// 16 or 32 channels [c, c + 16·NB) × rows of X blocks [b0, b0 + MB) of one segment.
template <int NB, int MB>
__attribute__((target("amx-tile,amx-bf16"))) void amx_block(const simd::MatmulProblem& p, const AmxPackedRows& xp,
                                                            int expert, int64_t c, int64_t block0,
                                                            int64_t seg_row0, int64_t seg_rows, int64_t rel_row0) {
  const int64_t w_stride = p.k * 2;  // bytes between weight rows
  const uint16_t* w = static_cast<const uint16_t*>(p.w) + (int64_t(expert) * p.n + c) * p.k;
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t k0 = 0; k0 < p.k; k0 += kAmxK) {
    _tile_loadd(4, w + k0, w_stride);
    if constexpr (NB == 2) _tile_loadd(5, w + 16 * p.k + k0, w_stride);
    _tile_loadd(6, xp.block(block0) + (k0 / 2) * kAmxTileRows, 64);
    if constexpr (MB == 2) _tile_loadd(7, xp.block(block0 + 1) + (k0 / 2) * kAmxTileRows, 64);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (MB == 2) _tile_dpbf16ps(1, 4, 7);
    if constexpr (NB == 2) _tile_dpbf16ps(2, 5, 6);
    if constexpr (NB == 2 && MB == 2) _tile_dpbf16ps(3, 5, 7);
  }
  alignas(64) float out[16][16];
  for (int nb = 0; nb < NB; ++nb)
    for (int mb = 0; mb < MB; ++mb) {
      switch (2 * nb + mb) {  // tile numbers must be constants
        case 0: _tile_stored(0, out, 64); break;
        case 1: _tile_stored(1, out, 64); break;
        case 2: _tile_stored(2, out, 64); break;
        default: _tile_stored(3, out, 64); break;
      }
      const int64_t rel = rel_row0 + 16 * mb;  // first row of this block within the segment
      const int64_t rows = std::min<int64_t>(16, seg_rows - rel);
      if (rows > 0) store_tile_transposed(p, expert, out, seg_row0 + rel, rows, c + 16 * nb);
    }
}

// One work item on AMX (its segment was packed): whole 16-channel blocks on tiles, the last
// < 16 channels by `tail` (the vdpbf16ps item kernel).
template <class Tail>
__attribute__((target("amx-tile,amx-bf16"))) void run_amx_item(const simd::MatmulProblem& p,
                                                               const AmxPackedRows& xp, const simd::WorkItem& it,
                                                               Tail&& tail) {
  static const AmxTileConfig config;
  _tile_loadconfig(&config);
  const simd::RowSegment& seg = p.segments[size_t(it.segment)];
  const int64_t rel0 = it.r0 - seg.row0, rel1 = it.r1 - seg.row0;  // rel0 is a multiple of 16 (kItemRows)
  const int64_t first = xp.first_block[size_t(it.segment)] + rel0 / kAmxTileRows;
  const int64_t n_blocks = (rel1 - rel0 + kAmxTileRows - 1) / kAmxTileRows;
  const int64_t c_end = it.c0 + (it.c1 - it.c0) / 16 * 16;
  for (int64_t c = it.c0; c < c_end; c += 32) {
    const bool two_n = c + 32 <= c_end;
    for (int64_t b = 0; b < n_blocks; b += 2) {
      const bool two_m = b + 2 <= n_blocks;
      const int64_t rel = rel0 + 16 * b;
      if (two_n && two_m) amx_block<2, 2>(p, xp, seg.expert, c, first + b, seg.row0, seg.rows, rel);
      else if (two_n) amx_block<2, 1>(p, xp, seg.expert, c, first + b, seg.row0, seg.rows, rel);
      else if (two_m) amx_block<1, 2>(p, xp, seg.expert, c, first + b, seg.row0, seg.rows, rel);
      else amx_block<1, 1>(p, xp, seg.expert, c, first + b, seg.row0, seg.rows, rel);
    }
  }
  _tile_release();
  if (c_end < it.c1) tail(simd::WorkItem{it.segment, it.r0, it.r1, c_end, it.c1});
}

}  // namespace
}  // namespace sy::cpu::avx512
