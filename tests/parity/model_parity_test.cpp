// Parity with transformers on the CPU backend: for every fixture model our forward must
// reproduce transformers' logits, layer-0 router choices and 16-token greedy continuations.
// The golden readers, the checks and their tolerances live in tests/parity/parity_checks.h
// (shared with the CUDA backend's tests/unit/gpu_model_parity_test.cpp).
#include <gtest/gtest.h>

#include "engine/backend/backend.h"
#include "tests/parity/parity_checks.h"

namespace {

class ModelParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    backend_ = sy::make_cpu_backend();
    model_ = sy::load_model(sy::parity::models_dir() / GetParam(), *backend_);
    goldens_ = sy::parity::load_goldens(GetParam());
  }

  std::unique_ptr<sy::Backend> backend_;
  std::shared_ptr<sy::Model> model_;
  sy::parity::Goldens goldens_;
};

TEST_P(ModelParity, LogitsMatchTransformers) { sy::parity::check_logits(GetParam(), model_, goldens_); }

TEST_P(ModelParity, LayerZeroTopKExpertsMatchTransformers) {
  sy::parity::check_layer0_topk(GetParam(), model_, goldens_);
}

TEST_P(ModelParity, GreedyContinuationMatchesTransformers) { sy::parity::check_greedy(GetParam(), model_, goldens_); }

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelParity, ::testing::ValuesIn(sy::parity::fixtures()),
                         [](const auto& info) { return sy::parity::test_name(info.param); });

}  // namespace
