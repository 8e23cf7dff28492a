// NCCL communicator on the GPU (label gpu; skips where there is no CUDA device). One rank per
// process here: the all-to-all round trip to itself, the control plane delegation and the
// timeout path's absence on success. Multi-GPU runs go through tests/mpi with --comm nccl.
#include <cuda_runtime.h>

#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "engine/backend/backend.h"
#include "engine/parallel/communicator.h"
#include "engine/parallel/nccl_communicator.h"

namespace {

class NcclCommunicatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (sy::cuda_device_count() == 0) GTEST_SKIP() << "skipped: no CUDA device";
  }
};

TEST_F(NcclCommunicatorTest, AllToAllVOnOneRankCopiesDeviceBuffers) {
  auto control = sy::make_local_communicator();
  auto nccl = sy::make_nccl_communicator(*control, 0, nullptr);
  EXPECT_EQ(nccl->name(), "nccl");
  EXPECT_TRUE(nccl->device_buffers());
  std::vector<float> host(1 << 16);
  std::iota(host.begin(), host.end(), 0.5f);
  const int64_t bytes = int64_t(host.size() * sizeof(float));
  void *send = nullptr, *recv = nullptr;
  ASSERT_EQ(cudaMalloc(&send, size_t(bytes)), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&recv, size_t(bytes)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(send, host.data(), size_t(bytes), cudaMemcpyHostToDevice), cudaSuccess);
  const int64_t counts[] = {bytes};
  nccl->all_to_all_v(send, counts, recv, counts);
  std::vector<float> back(host.size());
  ASSERT_EQ(cudaMemcpy(back.data(), recv, size_t(bytes), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, host);
  // Zero-byte exchanges (a rank with no tokens) are legal.
  const int64_t none[] = {0};
  nccl->all_to_all_v(send, none, recv, none);
  cudaFree(send);
  cudaFree(recv);
}

TEST_F(NcclCommunicatorTest, ControlPlaneGoesThroughTheHostCommunicator) {
  auto control = sy::make_local_communicator();
  auto nccl = sy::make_nccl_communicator(*control, 0, nullptr);
  std::vector<int64_t> v = {1, 2, 3}, out(3);
  nccl->all_to_all(v, out, 3);
  EXPECT_EQ(out, v);
  std::vector<char> g;
  std::vector<int64_t> sizes;
  nccl->gather_v("xy", 2, g, sizes, 0);
  EXPECT_EQ(std::string(g.begin(), g.end()), "xy");
}

}  // namespace
