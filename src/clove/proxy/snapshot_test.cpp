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
    ASSERT_EQ(s->Route("claude-opus-4-8").upstream->config.name, "a");
    ASSERT_EQ(s->Route("best").upstream->config.name, "a");
    ASSERT_EQ(s->Route("claude-sonnet-4-5").upstream->config.name, "b");
    EXPECT_EQ(s->Route("gpt-4o").upstream, nullptr);
    EXPECT_EQ(s->Route("gpt-4o").status, 404);
    ASSERT_EQ(s->upstreams[0].credentials.size(), 1u);
    EXPECT_EQ(s->upstreams[0].credentials[0].auth_header, "x-api-key: sk-a\r\n");
    EXPECT_EQ(s->upstreams[1].peer.base_path, "/prefix");
}

TEST(Snapshot, AuthenticatesClientKeysByDigest) {
    auto s = proxy::Snapshot::Build(TwoUpstreams());
    auto who = s->Authenticate("ck-alice-123");
    ASSERT_TRUE(who);
    EXPECT_EQ(who->name, "alice");
    EXPECT_FALSE(s->Authenticate("ck-alice-124"));
    EXPECT_FALSE(s->Authenticate(""));
    // Again, from the worker's digest cache: same answers, and keys differing in one byte or in
    // length are still told apart.
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(s->Authenticate("ck-alice-123"));
        EXPECT_EQ(s->Authenticate("ck-alice-123")->name, "alice");
        EXPECT_FALSE(s->Authenticate("ck-alice-12"));
        EXPECT_FALSE(s->Authenticate("ck-alice-1234"));
        EXPECT_FALSE(s->Authenticate("ck-alice-124"));
    }
}

TEST(Snapshot, ARevokedKeyFailsInTheNextSnapshotEvenWhenItsDigestIsCached) {
    auto with = proxy::Snapshot::Build(TwoUpstreams());
    ASSERT_TRUE(with->Authenticate("ck-alice-123"));  // now cached on this thread
    auto c = TwoUpstreams();
    c.client_keys = {{"bob", "ck-bob-456"}};
    auto without = proxy::Snapshot::Build(c);
    EXPECT_FALSE(without->Authenticate("ck-alice-123"));
    ASSERT_TRUE(without->Authenticate("ck-bob-456"));
    EXPECT_EQ(without->Authenticate("ck-bob-456")->name, "bob");
    EXPECT_TRUE(with->Authenticate("ck-alice-123"));  // the old snapshot still answers for itself
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

TEST(Snapshot, OperatorKeysAreNeverUsedWithoutClientKeys) {
    auto c = TwoUpstreams();
    c.client_keys.clear();
    auto s = proxy::Snapshot::Build(c);
    auto r = s->Route("claude-sonnet-4-5");
    EXPECT_EQ(r.upstream, nullptr);
    EXPECT_EQ(r.status, 503);
    c.upstreams[1].auth = config::UpstreamAuth::kPassthrough;
    s = proxy::Snapshot::Build(c);
    ASSERT_NE(s->Route("claude-sonnet-4-5").upstream, nullptr);
    EXPECT_TRUE(s->Route("claude-sonnet-4-5").upstream->credentials.empty());
}

TEST(Snapshot, SkipsUpstreamsWithoutUsableCredentialsAndHonoursPriority) {
    config::RuntimeState st;
    config::UpstreamSpec a;
    a.id = "up_a";
    a.config.name = "a";
    a.config.base_url = "http://127.0.0.1:9001";
    a.priority = 1;
    a.credentials = {{"cred_1", "sk-1", false, "valid", {}, {}}, {"cred_2", "sk-2", true, "invalid", {}, {}}};
    config::UpstreamSpec b = a;
    b.id = "up_b";
    b.config.name = "b";
    b.priority = 0;
    b.credentials = {{"cred_3", "sk-3", true, "valid", {}, {}}};
    config::UpstreamSpec c = a;
    c.id = "up_c";
    c.config.name = "c";
    c.priority = 5;
    c.enabled = false;
    c.credentials = {{"cred_4", "sk-4", true, "valid", {}, {}}};
    st.upstreams = {b, a, c};
    st.client_keys = {{"key_1", "k", std::string(64, 'a'), true, std::nullopt, {"claude-haiku-*"}, {}}};
    auto s = proxy::Snapshot::Build(st);
    ASSERT_EQ(s->upstreams.size(), 2u);
    EXPECT_EQ(s->upstreams[0].id, "up_a");  // priority 1 first
    auto r = s->Route("claude-sonnet-4-5");
    ASSERT_NE(r.upstream, nullptr);
    EXPECT_EQ(r.upstream->id, "up_b");  // a has no usable credential
    EXPECT_EQ(s->credentials_disabled, 1u);
    EXPECT_EQ(s->credentials_invalid, 1u);
    EXPECT_EQ(s->credentials_valid, 2u);
    ASSERT_EQ(s->client_keys.size(), 1u);
    const auto& key = s->client_keys.begin()->second;
    EXPECT_TRUE(key.AllowsModel("claude-haiku-4-5"));
    EXPECT_FALSE(key.AllowsModel("claude-opus-4-8"));
    EXPECT_EQ(s->names.at("up_c"), "c");
}

TEST(Snapshot, DisabledKeysStillRequireAClientKey) {
    auto c = TwoUpstreams();
    auto st = config::FromConfig(c);
    st.client_keys[0].enabled = false;
    auto s = proxy::Snapshot::Build(st);
    EXPECT_TRUE(s->client_keys.empty());
    EXPECT_TRUE(s->client_keys_configured);
    EXPECT_EQ(s->Authenticate("ck-alice-123"), nullptr);
    EXPECT_NE(s->Route("claude-sonnet-4-5").upstream, nullptr);
}
