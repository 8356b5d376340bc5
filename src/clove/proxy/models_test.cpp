#include "clove/proxy/models.hpp"

#include <gtest/gtest.h>

using namespace clove;

namespace {
std::vector<proxy::ModelEntry> Three() {
    return {{"m1", "M1", "2025-01-01T00:00:00Z"}, {"m2", "M2", "2025-01-01T00:00:00Z"},
            {"m3", "M3", "2025-01-01T00:00:00Z"}};
}
}  // namespace

TEST(ModelsPageJson, PagesForwardAndBackward) {
    std::string err;
    auto all = proxy::ModelsPageJson(Three(), "", err);
    ASSERT_TRUE(all);
    EXPECT_NE(all->find(R"("has_more":false,"first_id":"m1","last_id":"m3")"), std::string::npos);
    auto p1 = proxy::ModelsPageJson(Three(), "limit=2", err);
    EXPECT_NE(p1->find(R"("has_more":true,"first_id":"m1","last_id":"m2")"), std::string::npos);
    auto p2 = proxy::ModelsPageJson(Three(), "limit=2&after_id=m2", err);
    EXPECT_NE(p2->find(R"("has_more":false,"first_id":"m3","last_id":"m3")"), std::string::npos);
    auto back = proxy::ModelsPageJson(Three(), "limit=1&before_id=m3", err);
    EXPECT_NE(back->find(R"("has_more":true,"first_id":"m2","last_id":"m2")"), std::string::npos);
    EXPECT_FALSE(proxy::ModelsPageJson(Three(), "limit=0", err));
    EXPECT_FALSE(proxy::ModelsPageJson(Three(), "limit=abc", err));
}

TEST(ListModels, ListsMappedLiteralAndCatalogueModels) {
    config::Config c;
    config::UpstreamConfig u;
    u.name = "u";
    u.base_url = "http://127.0.0.1:1";
    u.api_key = "k";
    u.models = {"claude-sonnet-*", "my-model"};
    u.model_map = {{"claude-latest", "claude-sonnet-4-5"}};
    c.upstreams = {u};
    c.client_keys = {{"a", "ck-aaaaaaaa"}};
    auto models = proxy::ListModels(*proxy::Snapshot::Build(c));
    ASSERT_GE(models.size(), 4u);
    EXPECT_EQ(models[0].id, "claude-latest");
    EXPECT_EQ(models[1].id, "my-model");
    for (const auto& m : models) {
        EXPECT_EQ(m.id.find("opus"), std::string::npos);
    }
}
