// Weight pre-packing for the CPU matmul kernels: int8 weight-only quantisation of expert (and
// dense) weights, done once at load, plus the dynamic activation quantisation the int8 kernels
// apply to each call's input rows.
//
// Where it sits: the model loader (engine/model) calls quantize_weights_int8() once per weight
// tensor, keeps the PackedWeights alive beside the model, and passes it in LinearArgs::packed /
// GroupedGemmArgs::packed; kernels/cpu/ops.cpp then routes the op to the int8 kernels
// (matmul_avx512.cpp with VNNI, matmul_avx2.cpp, or the scalar int8_matmul_scalar below).
// bf16 and f32 weights need no packing: the kernels stream the Hugging Face [out, in] rows as
// they are (each output is a dot product along a contiguous row).
//
// int8 format (symmetric, per output channel):
//   scale[e, r] = max_k |w[e, r, k]| / 127;  q = round(w / scale) in [-127, 127]
//   stored as the unsigned byte q + 128 (VNNI's vpdpbusd multiplies unsigned × signed bytes;
//   the activations are the signed operand), rows padded with q = 0 to k_pad (multiple of 64)
//   and channels padded with all-zero rows (scale 0) to n_pad (multiple of 4).
// Layout: the kernels compute 4 output channels at a time, so each run of 4 channels is stored
// as one contiguous tile, its 64-byte chunks interleaved by k group:
//   tile t = channels [4t, 4t+4):  [ch 4t, g 0][ch 4t+1, g 0][ch 4t+2, g 0][ch 4t+3, g 0][ch 4t, g 1]...
// so a tile is one sequential stream of 4·k_pad bytes (decode is bandwidth-bound, and four
// separate 2 KiB row streams ended before the hardware prefetcher ramped up).
// Activations are quantised per row in 16 lane groups: element i belongs to lane (i / 4) % 16,
// the 32-bit lane in which vpdpbusd accumulates it. A 16-lane int32 accumulator then holds each
// group's exact integer sum over the whole row, and the float work (convert, scale) happens once
// per row and channel instead of once per 64 elements:
//   xs[l] = max_{i in lane l} |x_i| / 127;  xq_i = round(x_i / xs[lane(i)]) in [-127, 127]
//   y[r] = scale[r] · Σ_l xs[l] · Σ_{i in lane l} xq_i·q[r, i]   (+ bias[r])
// Every group spans the whole row (k / 16 elements, strided), so one outlier channel coarsens
// 1/16 of the row. The integer sums are exact on every path (|Σ| < 2³¹ for k ≤ 2²⁰, checked at
// packing); only the fp32 sum over the 16 lanes is reordered.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "kernels/dtype.h"

namespace sy::cpu {

// k elements per chunk = one 64-byte vector of int8 (the unit of padding and of the tiled layout).
inline constexpr int64_t kInt8Group = 64;
// Activation quantisation groups per row = int32 lanes of a 64-byte vector (see above).
inline constexpr int kInt8Lanes = 16;
// Largest k the int32 lane sums cannot overflow for.
inline constexpr int64_t kInt8MaxK = int64_t(1) << 20;
// Output channels per stored tile (see the layout above).
inline constexpr int64_t kInt8TileRows = 4;
// Bytes from one k group of a channel to its next k group.
inline constexpr int64_t kInt8GroupStride = kInt8TileRows * kInt8Group;

enum class PackedFormat : uint8_t {
  kInt8PerChannel,  // u8 (q + 128), tiled [num_experts, n_pad / 4, k_pad / 64, 4, 64] + f32 scales [num_experts, n_pad]
};

struct PackedWeights {
  PackedFormat format = PackedFormat::kInt8PerChannel;
  int num_experts = 0;
  int64_t n = 0, k = 0;  // logical [n, k] per expert
  int64_t k_pad = 0;     // k rounded up to a multiple of kInt8Group
  int64_t n_pad = 0;     // n rounded up to a multiple of kInt8TileRows
  // [num_experts, n_pad / 4, k_pad / 64, 4, 64] u8 (the tiled layout above), 64-byte aligned
  std::unique_ptr<uint8_t[], void (*)(void*)> quants{nullptr, nullptr};
  // [num_experts, n_pad] f32 (0 for padding channels)
  std::unique_ptr<float[]> scales;

  // The 64 bytes of channel `row`, k group 0, of expert e; group g is at + g · kInt8GroupStride.
  const uint8_t* channel(int e, int64_t row) const {
    return quants.get() + (int64_t(e) * n_pad + row / kInt8TileRows * kInt8TileRows) * k_pad +
           row % kInt8TileRows * kInt8Group;
  }
  const float* expert_scales(int e) const { return scales.get() + int64_t(e) * n_pad; }
  size_t bytes() const { return size_t(num_experts) * size_t(n_pad) * size_t(k_pad + sizeof(float)); }
};

// Where the float weights come from: row(e, r) points at the k elements of row r of expert e.
// For a stacked [num_experts, n, k] tensor use contiguous_weights(); for the hub layout (one
// tensor per expert, gate and up separate) the loader points rows at the separate tensors, so
// the fused gate_up matrix is quantised without first being concatenated.
struct WeightSource {
  DType dtype = DType::kBF16;  // f32, bf16 or f16
  int num_experts = 1;
  int64_t n = 0, k = 0;
  std::function<const void*(int expert, int64_t row)> row;
};

WeightSource contiguous_weights(const void* w, DType dtype, int num_experts, int64_t n, int64_t k);

// Quantise once at load (parallel over rows). Throws std::invalid_argument naming the field
// when the source is malformed (no rows, unsupported dtype, non-positive sizes).
PackedWeights quantize_weights_int8(const WeightSource& src);

// Dynamic per-row activation quantisation (see the header comment). The SIMD kernels use a
// vectorised copy (matmul_avx512.cpp) tested bit-identical to this one, so the integer operands
// are the same on every ISA.
//   q [k_pad] (zero past k), lane_scales [kInt8Lanes] = xs,
//   neg_lane_sums [kInt8Lanes]: -128 · Σ_{i in lane l} q_i, the correction that turns VNNI's
//   Σ (q_w + 128)·x_q into Σ q_w·x_q when preloaded into its accumulator.
void quantize_activation_row(const void* x, DType dtype, int64_t k, int64_t k_pad, int8_t* q, float* lane_scales,
                             int32_t* neg_lane_sums);

// The scalar version of the int8 matmul, y[m, n] = x[m, k] · dequant(w[e])ᵀ (+ bias) for one
// expert: the ISA-independent definition the SIMD kernels are tested against, and the path
// used when SWITCHYARD_CPU_ISA=scalar.
struct Int8MatmulArgs {
  const void* x = nullptr;  // [m, k] x_dtype, row stride ldx
  void* y = nullptr;        // [m, n] y_dtype, row stride ldy
  const void* bias = nullptr;  // [n] bias_dtype or null
  DType x_dtype = DType::kF32, y_dtype = DType::kF32, bias_dtype = DType::kF32;
  int64_t m = 0, ldx = 0, ldy = 0;
  const PackedWeights* packed = nullptr;
  int expert = 0;
};
void int8_matmul_scalar(const Int8MatmulArgs& a);

}  // namespace sy::cpu
