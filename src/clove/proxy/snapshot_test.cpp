#include "clove/proxy/snapshot.hpp"

#include <gtest/gtest.h>

using namespace clove;

namespace {
config::Config TwoUpstreams() {
    config::Config c;
    config::UpstreamConfig a;
    a.name = "a";
    a.base_url = "http://127.0.0.1:9001";
    a.api_key = "sk-a";
    a.models = {"claude-opus-*"};
    a.model_map = {{"best", "claude-opus-4-8"}};
    config::UpstreamConfig b;
    b.name = "b";
    b.base_url = "https://api.example.com/prefix";
    b.api_key = "sk-b";
    b.models = {"claude-*"};
    c.upstreams = {a, b};
    c.client_keys = {{"alice", "ck-alice-123"}};
    return c;
}
}  // namespace

TEST(Snapshot, RoutesByFirstMatchingUpstreamAndModelMap) {
    auto s = proxy::Snapshot::Build(TwoUpstreams());
    ASSERT_EQ(s->Route("claude-opus-4-8")->config.name, "a");
    ASSERT_EQ(s->Route("best")->config.name, "a");
    ASSERT_EQ(s->Route("claude-sonnet-4-5")->config.name, "b");
    EXPECT_EQ(s->Route("gpt-4o"), nullptr);
    EXPECT_EQ(s->upstreams[0].auth_header, "x-api-key: sk-a\r\n");
    EXPECT_EQ(s->upstreams[1].peer.base_path, "/prefix");
}

TEST(Snapshot, AuthenticatesClientKeysByDigest) {
    auto s = proxy::Snapshot::Build(TwoUpstreams());
    auto who = s->Authenticate("ck-alice-123");
    ASSERT_TRUE(who);
    EXPECT_EQ(*who, "alice");
    EXPECT_FALSE(s->Authenticate("ck-alice-124"));
    EXPECT_FALSE(s->Authenticate(""));
}

TEST(SnapshotStore, PublishesNewSnapshotsWhileOldOnesStayPinned) {
    proxy::SnapshotStore store(proxy::Snapshot::Build(TwoUpstreams()));
    auto pinned = store.Load();
    auto c = TwoUpstreams();
    c.upstreams.pop_back();
    store.Store(proxy::Snapshot::Build(c));
    EXPECT_EQ(pinned->upstreams.size(), 2u);
    EXPECT_EQ(store.Load()->upstreams.size(), 1u);
}
