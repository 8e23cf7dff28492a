// Which SIMD paths this CPU can run; kernels pick their fastest path from this at run time.
// SWITCHYARD_CPU_ISA=scalar|avx2|avx512|amx caps the choice (tests run every path this way);
// "ref" is accepted as a synonym of scalar (the reference kernels). amx is avx512 plus AMX
// bf16 tiles for the bf16 matmuls of prefill (Sapphire Rapids and later), once the kernel has
// granted this process the tile state (arch_prctl ARCH_REQ_XCOMP_PERM).
#pragma once

namespace sy::cpu {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kAmx = 3 };

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512_bf16 = false, avx512_vnni = false;
  bool amx_tile = false, amx_bf16 = false;  // CPU and OS (XCR0) support, and the process's permission
};

const CpuFeatures& cpu_features();
// The best ISA both the CPU supports and SWITCHYARD_CPU_ISA allows (read once).
Isa active_isa();
// Override at run time (tests); returns the previous value.
Isa set_active_isa(Isa isa);
const char* isa_name(Isa isa);

}  // namespace sy::cpu
