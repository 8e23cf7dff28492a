// The public CPU kernel entry points (sy::cpu::<op>, declared in kernels/*.h), called by the
// CPU backend. Each runs the fastest implementation that active_isa() (cpu_features.h, capped
// by SWITCHYARD_CPU_ISA) allows and that handles the arguments, else the portable reference in
// kernels/cpu/*_ref.cpp:
//   linear, grouped_gemm   avx512 (bf16·bf16 vdpbf16ps, int8 VNNI) → avx2 (reference-order
//                          FMA, bit-identical to ref; int8) → ref (int8: pack.h's scalar kernel)
//   rms_norm, rope, paged_attention, route, add, gated_add, convert, embedding, moe_combine
//                          avx512 → avx2 → ref, all bit-identical to ref (*_simd.h)
//   glu                    avx512 → avx2 → ref; the SIMD paths use a vector exp (within one
//                          ulp of the dtype of ref, elementwise_simd.h)
//   kv_cache_write, moe_align, moe_permute: the reference (memcpy / counting sort)
#include <stdexcept>
#include <string>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/pack.h"
#include "kernels/cpu/ref.h"
#include "kernels/cpu/simd_kernels.h"

namespace sy::cpu {
namespace {

// Packed weights must describe the same matrix as the op's arguments.
void check_packed(const PackedWeights& p, int num_experts, int64_t n, int64_t k, const char* op) {
  if (p.n != n || p.k != k || p.num_experts < num_experts)
    throw std::invalid_argument(std::string(op) + ": packed weights are [" + std::to_string(p.num_experts) + ", " +
                                std::to_string(p.n) + ", " + std::to_string(p.k) + "] but the op needs [" +
                                std::to_string(num_experts) + ", " + std::to_string(n) + ", " +
                                std::to_string(k) + "]");
}

// The fast paths trust their arguments, so the checks the reference makes come first.
void require(bool ok, const char* op, const std::string& what) {
  if (!ok) throw std::invalid_argument(std::string(op) + ": " + what);
}

void validate(const LinearArgs& a) {
  const char* op = "linear";
  require(a.m >= 0 && a.n >= 0 && a.k >= 0, op, "m, n, k must be >= 0");
  require(is_float_dtype(a.x_dtype) && is_float_dtype(a.w_dtype) && is_float_dtype(a.y_dtype), op,
          "x_dtype, w_dtype and y_dtype must be F32, F16 or BF16");
  require((a.ldx ? a.ldx : a.k) >= a.k, op, "ldx must be >= k");
  require((a.ldy ? a.ldy : a.n) >= a.n, op, "ldy must be >= n");
  if (a.m == 0 || a.n == 0) return;
  require(a.y && (a.w || a.packed) && (a.x || a.k == 0), op, "x, w (or packed) and y must be set");
  if (a.packed) check_packed(*a.packed, 1, a.n, a.k, op);
}

void validate(const GroupedGemmArgs& a) {
  const char* op = "grouped_gemm";
  require(a.num_experts >= 0 && a.n >= 0 && a.k >= 0, op, "num_experts, n, k must be >= 0");
  require(is_float_dtype(a.act_dtype) && is_float_dtype(a.w_dtype), op, "act_dtype and w_dtype must be F32, F16 or BF16");
  if (a.num_experts == 0 || a.n == 0) return;
  require(a.expert_offsets != nullptr, op, "expert_offsets must be set");
  const int32_t* off = a.expert_offsets;
  require(off[0] == 0, op, "expert_offsets[0] must be 0, got " + std::to_string(off[0]));
  for (int e = 0; e < a.num_experts; ++e)
    require(off[e + 1] >= off[e], op, "expert_offsets must be non-decreasing (expert " + std::to_string(e) + ")");
  require(off[a.num_experts] == a.total_rows, op,
          "expert_offsets[num_experts] = " + std::to_string(off[a.num_experts]) + " differs from total_rows = " +
              std::to_string(a.total_rows));
  if (a.total_rows == 0) return;
  require(a.x && (a.w || a.packed) && a.y, op, "x, w (or packed) and y must be set");
  if (a.packed) check_packed(*a.packed, a.num_experts, a.n, a.k, op);
}

// Scalar path for packed weights: the reference cannot read them.
void int8_segment(const void* x, DType x_dtype, int64_t ldx, void* y, DType y_dtype, int64_t ldy,
                  const void* bias, DType bias_dtype, int64_t rows, const PackedWeights* packed, int expert) {
  Int8MatmulArgs s;
  s.x = x;
  s.y = y;
  s.bias = bias;
  s.x_dtype = x_dtype;
  s.y_dtype = y_dtype;
  s.bias_dtype = bias_dtype;
  s.m = rows;
  s.ldx = ldx;
  s.ldy = ldy;
  s.packed = packed;
  s.expert = expert;
  int8_matmul_scalar(s);
}

}  // namespace

void linear(const LinearArgs& a) {
  validate(a);
  if (a.m == 0 || a.n == 0) return;
  const Isa isa = active_isa();
  if (isa >= Isa::kAvx512 && avx512::try_linear(a)) return;
  if (isa >= Isa::kAvx2 && avx2::try_linear(a)) return;
  if (!a.packed) return ref::linear(a);
  const int64_t ldx = a.ldx ? a.ldx : a.k, ldy = a.ldy ? a.ldy : a.n;
  int8_segment(a.x, a.x_dtype, ldx, a.y, a.y_dtype, ldy, a.bias, a.w_dtype, a.m, a.packed, 0);
}

// The small ops: the AVX-512 path, else the AVX2 path, else (or when a path declines the
// arguments) the reference, which also reports invalid arguments.
template <class Args>
void run_small_op(const Args& a, bool (*avx512_path)(const Args&), bool (*avx2_path)(const Args&),
                  void (*reference)(const Args&)) {
  const Isa isa = active_isa();
  if (isa >= Isa::kAvx512 && avx512_path(a)) return;
  if (isa >= Isa::kAvx2 && avx2_path(a)) return;
  reference(a);
}

void rms_norm(const RmsNormArgs& a) { run_small_op(a, avx512::try_rms_norm, avx2::try_rms_norm, ref::rms_norm); }
void rope(const RopeArgs& a) { run_small_op(a, avx512::try_rope, avx2::try_rope, ref::rope); }
void kv_cache_write(const KvCacheWriteArgs& a) { ref::kv_cache_write(a); }
void paged_attention(const PagedAttentionArgs& a) {
  run_small_op(a, avx512::try_paged_attention, avx2::try_paged_attention, ref::paged_attention);
}
void embedding(const EmbeddingArgs& a) { run_small_op(a, avx512::try_embedding, avx2::try_embedding, ref::embedding); }
void add(const AddArgs& a) { run_small_op(a, avx512::try_add, avx2::try_add, ref::add); }
void gated_add(const GatedAddArgs& a) { run_small_op(a, avx512::try_gated_add, avx2::try_gated_add, ref::gated_add); }
void convert(const ConvertArgs& a) { run_small_op(a, avx512::try_convert, avx2::try_convert, ref::convert); }
void glu(const GluArgs& a) { run_small_op(a, avx512::try_glu, avx2::try_glu, ref::glu); }
void route(const RouterArgs& a) { run_small_op(a, avx512::try_route, avx2::try_route, ref::route); }
void moe_align(const MoeAlignArgs& a) { ref::moe_align(a); }
void moe_permute(const PermuteArgs& a) { ref::moe_permute(a); }
void moe_combine(const CombineArgs& a) {
  run_small_op(a, avx512::try_moe_combine, avx2::try_moe_combine, ref::moe_combine);
}

void grouped_gemm(const GroupedGemmArgs& a) {
  validate(a);
  if (a.num_experts == 0 || a.n == 0 || a.total_rows == 0) return;
  const Isa isa = active_isa();
  if (isa >= Isa::kAvx512 && avx512::try_grouped_gemm(a)) return;
  if (isa >= Isa::kAvx2 && avx2::try_grouped_gemm(a)) return;
  if (!a.packed) return ref::grouped_gemm(a);
  const size_t x_elem = dtype_size(a.act_dtype);
  for (int e = 0; e < a.num_experts; ++e) {
    const int64_t r0 = a.expert_offsets[e], rows = a.expert_offsets[e + 1] - r0;
    if (rows <= 0) continue;
    const void* bias = a.bias ? static_cast<const char*>(a.bias) + size_t(e * a.n) * dtype_size(a.w_dtype) : nullptr;
    int8_segment(static_cast<const char*>(a.x) + size_t(r0 * a.k) * x_elem, a.act_dtype, a.k,
                 static_cast<char*>(a.y) + size_t(r0 * a.n) * x_elem, a.act_dtype, a.n, bias, a.w_dtype, rows,
                 a.packed, e);
  }
}

}  // namespace sy::cpu
