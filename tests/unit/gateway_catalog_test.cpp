// ModelCatalog (gateway: unknown model -> 404 before any generation starts) over a scripted
// Upstream: cached answers, refresh on a miss, upstream errors passed through.
#include <gtest/gtest.h>

#include <thread>

#include "server/gateway/model_catalog.h"

namespace sy::gateway {
namespace {

class ScriptedUpstream : public Upstream {
 public:
  std::unique_ptr<GenerationStream> generate(const GenerationRequest&, size_t) override {
    return nullptr;
  }
  std::variant<std::vector<ModelCard>, ApiError> list_models() override {
    ++list_calls;
    if (failing) return ApiError{503, "down", "service_unavailable", std::nullopt, std::nullopt, 1};
    std::vector<ModelCard> cards;
    for (const std::string& id : served) cards.push_back({id, 1, "switchyard"});
    return cards;
  }
  bool serving() override { return !failing; }

  std::vector<std::string> served = {"tiny"};
  bool failing = false;
  int list_calls = 0;
};

TEST(GatewayModelCatalog, KnownModelIsCachedUnknownIs404) {
  ScriptedUpstream upstream;
  ModelCatalog catalog(upstream, std::chrono::hours(1));
  EXPECT_FALSE(catalog.check("tiny").has_value());
  EXPECT_FALSE(catalog.check("tiny").has_value());
  EXPECT_EQ(upstream.list_calls, 1);
  std::optional<ApiError> unknown = catalog.check("huge");
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->http_status, 404);
  EXPECT_EQ(unknown->param, "model");
  EXPECT_EQ(upstream.list_calls, 1);  // fresh cache: no refetch for a miss
}

TEST(GatewayModelCatalog, StaleCacheRefetchesOnAMiss) {
  ScriptedUpstream upstream;
  ModelCatalog catalog(upstream, std::chrono::milliseconds(1));
  EXPECT_FALSE(catalog.check("tiny").has_value());
  upstream.served = {"tiny", "renamed"};
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(catalog.check("renamed").has_value());
  EXPECT_EQ(upstream.list_calls, 2);
}

TEST(GatewayModelCatalog, UpstreamErrorsPassThrough) {
  ScriptedUpstream upstream;
  upstream.failing = true;
  ModelCatalog catalog(upstream);
  std::optional<ApiError> error = catalog.check("tiny");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->http_status, 503);
  auto listed = catalog.list();
  ASSERT_TRUE(std::holds_alternative<ApiError>(listed));
  upstream.failing = false;
  auto recovered = catalog.list();
  ASSERT_TRUE(std::holds_alternative<std::vector<ModelCard>>(recovered));
  EXPECT_EQ(std::get<std::vector<ModelCard>>(recovered)[0].id, "tiny");
}

}  // namespace
}  // namespace sy::gateway
