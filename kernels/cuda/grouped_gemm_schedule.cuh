// Tile schedule shared by the grouped GEMM paths. A launch covers the rows of all experts with
// M tiles that never straddle two experts, so tile t of expert e uses rows
// [off[e] + t*bm, min(off[e] + (t+1)*bm, off[e+1])) and expert e's weights. The host knows only
// total_rows (offsets stay on the device, so no copy back and CUDA-graph capture works), so
// grids are sized for the worst case, total_rows / bm + min(E, total_rows) tiles, and a CTA
// whose tile index lies past the real count exits at once. Each CTA finds its tile with one
// warp scanning the expert offsets (a few hundred integers, L2 resident).
#pragma once

#include <climits>
#include <cstdint>

namespace sy::cuda {

struct MTile {
  int expert;           // -1: no such tile, the CTA has nothing to do
  int64_t row_begin;    // absolute rows of x and y
  int64_t row_end;
};

inline int64_t m_tile_bound(int64_t total_rows, int num_experts, int bm) {
  const int64_t experts = total_rows < num_experts ? total_rows : num_experts;
  return total_rows / bm + experts;
}

// All threads of the block must call this (it ends with __syncthreads). bm = INT_MAX gives
// "the tile_index-th non-empty expert, all its rows".
__device__ inline MTile find_m_tile(const int32_t* offsets, int num_experts, int64_t total_rows, int bm,
                                    int tile_index) {
  __shared__ MTile found;
  if (offsets == nullptr) {  // one segment [0, total_rows), expert 0
    const int64_t begin = int64_t(tile_index) * bm;
    __syncthreads();
    return begin < total_rows ? MTile{0, begin, begin + bm < total_rows ? begin + bm : total_rows} : MTile{-1, 0, 0};
  }
  if (threadIdx.x < 32) {
    const int lane = threadIdx.x;
    if (lane == 0) found = MTile{-1, 0, 0};
    __syncwarp();
    int carry = 0;
    for (int base = 0; base < num_experts && carry <= tile_index; base += 32) {
      const int e = base + lane;
      const int rows = e < num_experts ? offsets[e + 1] - offsets[e] : 0;
      const int count = rows > 0 ? (rows - 1) / bm + 1 : 0;
      int incl = count;
      for (int off = 1; off < 32; off <<= 1) {
        const int v = __shfl_up_sync(0xffffffffu, incl, off);
        if (lane >= off) incl += v;
      }
      const int start = carry + incl - count;
      if (count > 0 && tile_index >= start && tile_index < start + count) {
        const int64_t seg_begin = offsets[e], seg_end = offsets[e + 1];
        const int64_t begin = seg_begin + int64_t(tile_index - start) * bm;
        found = MTile{e, begin, seg_end - begin > bm ? begin + bm : seg_end};
      }
      carry += __shfl_sync(0xffffffffu, incl, 31);
    }
  }
  __syncthreads();
  return found;
}

// Grouped rasterisation: consecutive CTAs walk `group` M tiles for each N tile, so the CTAs in
// flight share both activation rows and weight tiles in L2.
__device__ inline void raster_tile(int block, int num_m, int num_n, int& m, int& n) {
  constexpr int kGroup = 8;
  const int per_group = kGroup * num_n;
  const int first_m = (block / per_group) * kGroup;
  const int group_m = num_m - first_m < kGroup ? num_m - first_m : kGroup;
  const int in_group = block % per_group;
  m = first_m + in_group % group_m;
  n = in_group / group_m;
}

}  // namespace sy::cuda
