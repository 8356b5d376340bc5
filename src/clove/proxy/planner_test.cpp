#include "clove/proxy/planner.hpp"

#include <gtest/gtest.h>

#include <map>

#include "clove/base/clock.hpp"

namespace clove::proxy {
namespace {

config::UpstreamSpec Up(std::string id, int priority, std::vector<std::string> creds, int weight = 1) {
    config::UpstreamSpec u;
    u.id = id;
    u.config.name = id;
    u.config.base_url = "http://127.0.0.1:9";
    u.priority = priority;
    u.weight = weight;
    for (auto& c : creds) {
        u.credentials.push_back({c, "sk-" + c, true, "valid", std::nullopt, std::nullopt});
    }
    return u;
}

config::RuntimeState State(std::vector<config::UpstreamSpec> ups) {
    config::RuntimeState st;
    st.upstreams = std::move(ups);
    st.client_keys = {{"key_1", "k", std::string(64, 'a'), true, std::nullopt, {}, {}}};
    return st;
}

std::vector<std::string> Ids(const Plan& p) {
    std::vector<std::string> out;
    for (const auto& c : p.candidates) {
        out.push_back(c.credential ? c.credential->id : c.upstream->id);
    }
    return out;
}

struct Fixture {
    base::FakeClock clock;
    routing::HealthTable table{clock};
    std::mt19937_64 rng{7};
    PlanRequest Req(std::string_view model = "claude-sonnet-4-5") {
        return {model, {}, clock.SteadyMs(), clock.WallMs()};
    }
};

TEST(Planner, HigherPriorityFirstThenLeastRecentlyUsedCredentials) {
    Fixture f;
    auto s = Snapshot::Build(State({Up("a", 0, {"a1"}), Up("b", 5, {"b1", "b2"})}), &f.table);
    f.table.Get("b1")->last_used_seq = f.table.NextSeq();
    auto p = PlanCandidates(*s, f.Req(), nullptr, f.rng);
    EXPECT_EQ(Ids(p), (std::vector<std::string>{"b2", "b1", "a1"}));
}

TEST(Planner, RateLimitedCredentialsAreSkippedAndRecoverAtTheirReset) {
    Fixture f;
    auto s = Snapshot::Build(State({Up("a", 0, {"a1", "a2"})}), &f.table);
    routing::Event e;
    e.kind = routing::Event::Kind::kRateLimited;
    e.reset_after_ms = 2000;
    f.table.Record("a1", *f.table.Get("a1"), e, s->policy);
    EXPECT_EQ(Ids(PlanCandidates(*s, f.Req(), nullptr, f.rng)), (std::vector<std::string>{"a2"}));
    f.table.Record("a2", *f.table.Get("a2"), e, s->policy);
    auto none = PlanCandidates(*s, f.Req(), nullptr, f.rng);
    EXPECT_TRUE(none.candidates.empty());
    EXPECT_EQ(none.status, 429);
    EXPECT_EQ(*none.retry_after_ms, 2000);
    EXPECT_NE(none.message.find("all 2 credentials for model \"claude-sonnet-4-5\" are rate-limited until "),
              std::string::npos)
        << none.message;
    f.clock.Advance(2000);
    EXPECT_EQ(PlanCandidates(*s, f.Req(), nullptr, f.rng).candidates.size(), 2u);
}

TEST(Planner, FailingCredentialsAreALastResortAndInvalidOnesAreLeftOut) {
    Fixture f;
    auto s = Snapshot::Build(State({Up("a", 1, {"a1"}), Up("b", 0, {"b1", "b2"})}), &f.table);
    routing::Event fail;
    fail.kind = routing::Event::Kind::kFailure;
    for (int i = 0; i < 3; ++i) {
        f.table.Record("a1", *f.table.Get("a1"), fail, s->policy);
    }
    routing::Event inv;
    inv.kind = routing::Event::Kind::kInvalid;
    f.table.Record("b2", *f.table.Get("b2"), inv, s->policy);
    auto p = PlanCandidates(*s, f.Req(), nullptr, f.rng);
    EXPECT_EQ(Ids(p), (std::vector<std::string>{"b1", "a1"}));
    EXPECT_TRUE(p.candidates.back().last_resort);
    f.table.Record("b1", *f.table.Get("b1"), inv, s->policy);
    EXPECT_EQ(Ids(PlanCandidates(*s, f.Req(), nullptr, f.rng)), (std::vector<std::string>{"a1"}));
    f.table.Record("a1", *f.table.Get("a1"), inv, s->policy);
    auto none = PlanCandidates(*s, f.Req(), nullptr, f.rng);
    EXPECT_EQ(none.status, 503);
    EXPECT_EQ(none.message, "all credentials for model \"claude-sonnet-4-5\" are invalid or disabled");
}

TEST(Planner, ConcurrencyCapAndUnknownModel) {
    Fixture f;
    auto st = State({Up("a", 0, {"a1"})});
    st.upstreams[0].credential_concurrency = 1;
    auto s = Snapshot::Build(st, &f.table);
    ASSERT_TRUE(f.table.Get("a1")->TryAcquire(1));
    auto p = PlanCandidates(*s, f.Req(), nullptr, f.rng);
    EXPECT_EQ(p.status, 429);
    EXPECT_EQ(p.message, "all 1 credentials for model \"claude-sonnet-4-5\" are at their concurrency limit");
    auto unknown = PlanCandidates(*s, f.Req("gpt-4o"), nullptr, f.rng);
    EXPECT_EQ(unknown.status, 404);
    EXPECT_EQ(unknown.message, "no upstream serves model \"gpt-4o\"");
}

TEST(Planner, StickyCredentialGoesFirstWhileUsable) {
    Fixture f;
    auto s = Snapshot::Build(State({Up("a", 0, {"a1", "a2", "a3"})}), &f.table);
    routing::StickyTable sticky;
    sticky.Remember(99, "a3", f.clock.SteadyMs(), 300'000);
    auto req = f.Req();
    const uint64_t keys[] = {5, 99};
    req.sticky_keys = keys;
    auto p = PlanCandidates(*s, req, &sticky, f.rng);
    EXPECT_TRUE(p.sticky_hit);
    EXPECT_EQ(p.candidates.front().credential->id, "a3");
    routing::Event e;
    e.kind = routing::Event::Kind::kRateLimited;
    e.reset_after_ms = 5000;
    f.table.Record("a3", *f.table.Get("a3"), e, s->policy);
    p = PlanCandidates(*s, req, &sticky, f.rng);
    EXPECT_FALSE(p.sticky_hit);  // never waits for a cooling sticky credential
    EXPECT_EQ(p.candidates.size(), 2u);
}

TEST(Planner, EqualTierIsWeightedAndPrefersTheLessLoaded) {
    Fixture f;
    auto s = Snapshot::Build(State({Up("a", 0, {"a1"}, 3), Up("b", 0, {"b1"}, 1)}), &f.table);
    std::map<std::string, int> first;
    for (int i = 0; i < 4000; ++i) {
        ++first[PlanCandidates(*s, f.Req(), nullptr, f.rng).candidates.front().upstream->id];
    }
    EXPECT_NEAR(first["a"] / 4000.0, 0.75, 0.04);
    f.table.Load("a")->in_flight = 6;  // 6/3 = 2 per weight vs 0 for b
    EXPECT_EQ(PlanCandidates(*s, f.Req(), nullptr, f.rng).candidates.front().upstream->id, "b");
}

}  // namespace
}  // namespace clove::proxy
