#include "kernels/cpu/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace sy::cpu {
namespace {

// Linux keeps the 8 KiB AMX tile state off until a process asks for it; without the grant
// the first tile instruction faults. The grant is process-wide.
bool request_amx_tile_state() {
#if defined(__linux__) && defined(SYS_arch_prctl)
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  bool osxsave = c & (1u << 27);
  f.fma = c & (1u << 12);
  f.f16c = c & (1u << 29);
  unsigned long long xcr0 = 0;
  if (osxsave) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
  }
  bool ymm_os = (xcr0 & 0x6) == 0x6;
  bool zmm_os = (xcr0 & 0xe6) == 0xe6;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = ymm_os && (b & (1u << 5));
    f.avx512f = zmm_os && (b & (1u << 16));
    f.avx512dq = zmm_os && (b & (1u << 17));
    f.avx512bw = zmm_os && (b & (1u << 30));
    f.avx512vl = zmm_os && (b & (1u << 31));
    f.avx512_vnni = zmm_os && (c & (1u << 11));
    // AMX: TILECFG and TILEDATA enabled by the OS (XCR0 bits 17, 18), then asked for.
    const bool tile_os = (xcr0 & 0x60000) == 0x60000;
    f.amx_bf16 = tile_os && (d & (1u << 22));
    f.amx_tile = tile_os && (d & (1u << 24));
  }
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512_bf16 = zmm_os && (a & (1u << 5));
  if (!ymm_os) f.fma = f.f16c = false;
  if (f.amx_tile && f.amx_bf16 && !request_amx_tile_state()) f.amx_tile = f.amx_bf16 = false;
  return f;
}

Isa best_isa() {
  const CpuFeatures& f = cpu_features();
  Isa isa = Isa::kScalar;
  if (f.avx2 && f.fma && f.f16c) isa = Isa::kAvx2;
  if (isa == Isa::kAvx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512_bf16 &&
      f.avx512_vnni)
    isa = Isa::kAvx512;
  if (isa == Isa::kAvx512 && f.amx_tile && f.amx_bf16) isa = Isa::kAmx;
  if (const char* cap = std::getenv("SWITCHYARD_CPU_ISA")) {
    Isa want = Isa::kAmx;
    if (!std::strcmp(cap, "scalar") || !std::strcmp(cap, "ref")) want = Isa::kScalar;
    else if (!std::strcmp(cap, "avx2")) want = Isa::kAvx2;
    else if (!std::strcmp(cap, "avx512")) want = Isa::kAvx512;
    if (want < isa) isa = want;
  }
  return isa;
}

std::atomic<int>& active() {
  static std::atomic<int> isa{static_cast<int>(best_isa())};
  return isa;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

Isa active_isa() { return static_cast<Isa>(active().load(std::memory_order_relaxed)); }

Isa set_active_isa(Isa isa) {
  Isa best = best_isa();
  if (isa > best) isa = best;
  return static_cast<Isa>(active().exchange(static_cast<int>(isa)));
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kAmx: return "amx";
  }
  return "?";
}

}  // namespace sy::cpu
