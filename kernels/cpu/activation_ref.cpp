// Reference gated activations (kernels/activation.h) between the two expert GEMMs.
// Each intermediate is rounded where the torch bf16 expression it mirrors rounds.
#include <algorithm>

#include "kernels/cpu/ref.h"
#include "kernels/cpu/ref_util.h"

namespace sy::cpu::ref {

void glu(const GluArgs& a) {
  using namespace detail;
  const char* op = "glu";
  require_float(a.dtype, op, "dtype");
  require(a.rows >= 0 && a.inter >= 0, op, "rows and inter must be >= 0");
  if (a.rows == 0 || a.inter == 0) return;
  require(a.gate_up && a.out, op, "gate_up and out must be set");
  const DType t = a.dtype;
#pragma omp parallel for schedule(static) if (a.rows * a.inter > (1 << 15))
  for (int64_t r = 0; r < a.rows; ++r) {
    const void* in = offset(a.gate_up, t, r * 2 * a.inter);  // [2 * inter]
    void* out = offset(a.out, t, r * a.inter);               // [inter]
    if (a.kind == GluKind::kSiluMul) {
      // act_fn(gate) * up: silu's output is a bf16 tensor before the multiply.
      for (int64_t i = 0; i < a.inter; ++i) {
        const float g = load_f(in, t, i), u = load_f(in, t, a.inter + i);
        store_f(out, t, i, round_to(t, g * sigmoid(g)) * u);
      }
    } else {
      // GPT-OSS, op by op: gate.clamp(max=limit); up.clamp(-limit, limit);
      // glu = gate * sigmoid(gate * alpha); out = (up + 1) * glu.
      for (int64_t i = 0; i < a.inter; ++i) {
        const float g = std::min(load_f(in, t, 2 * i), a.limit);
        const float u = std::clamp(load_f(in, t, 2 * i + 1), -a.limit, a.limit);
        const float gate_sig = round_to(t, sigmoid(round_to(t, g * a.alpha)));
        const float glu = round_to(t, g * gate_sig);
        store_f(out, t, i, round_to(t, u + 1.0f) * glu);
      }
    }
  }
}

}  // namespace sy::cpu::ref
