#include "clove/routing/credential_state.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "clove/routing/classify.hpp"

namespace clove::routing {
namespace {

Event RateLimited(std::optional<int64_t> reset_ms) {
    Event e;
    e.kind = Event::Kind::kRateLimited;
    e.reset_after_ms = reset_ms;
    return e;
}

Event Failure() {
    Event e;
    e.kind = Event::Kind::kFailure;
    e.error = "529 overloaded_error";
    return e;
}

TEST(CredentialState, RateLimitCoolsUntilTheAnnouncedResetAndRecoversByItself) {
    Policy p;
    Status s = Next({}, RateLimited(2000), 1000, 5000, p);
    EXPECT_EQ(s.health, Health::kCoolingDown);
    EXPECT_EQ(s.cause, Cause::kRateLimited);
    EXPECT_EQ(s.until_ms, 3000);
    EXPECT_EQ(s.until_wall_ms, 7000);
    EXPECT_EQ(EffectiveHealth(s, 2999), Health::kCoolingDown);
    EXPECT_EQ(EffectiveHealth(s, 3000), Health::kValid);
}

TEST(CredentialState, RateLimitWithoutHeadersUsesTheFallbackNeverExponential) {
    Policy p;
    p.fallback_cooldown_ms = 10'000;
    Status s = Next({}, RateLimited(std::nullopt), 0, 0, p);
    EXPECT_EQ(s.until_ms, 10'000);
    // A second 429 after recovery cools for the same time again, not twice as long.
    s = Next(s, RateLimited(std::nullopt), 20'000, 20'000, p);
    EXPECT_EQ(s.until_ms, 30'000);
}

TEST(CredentialState, AnnouncedCooldownIsNeverShortened) {
    Policy p;
    Status s = Next({}, RateLimited(60'000), 0, 0, p);
    s = Next(s, RateLimited(1'000), 10, 10, p);
    EXPECT_EQ(s.until_ms, 60'000);
}

TEST(CredentialState, ConsecutiveFailuresStartACooldownAndASuccessResetsTheCount) {
    Policy p;
    p.failure_threshold = 3;
    p.failure_cooldown_ms = 5000;
    Status s = Next({}, Failure(), 0, 0, p);
    s = Next(s, Failure(), 1, 1, p);
    EXPECT_EQ(s.health, Health::kValid);
    s = Next(s, Event{}, 2, 2, p);
    EXPECT_EQ(s.consecutive_failures, 0);
    s = Next(s, Failure(), 3, 3, p);
    s = Next(s, Failure(), 4, 4, p);
    s = Next(s, Failure(), 5, 5, p);
    EXPECT_EQ(s.health, Health::kCoolingDown);
    EXPECT_EQ(s.cause, Cause::kFailures);
    EXPECT_EQ(s.until_ms, 5005);
    EXPECT_EQ(s.last_error, "529 overloaded_error");
    // A probe after the cooldown that fails again cools at once (still over the threshold).
    s = Next(s, Failure(), 6000, 6000, p);
    EXPECT_EQ(s.health, Health::kCoolingDown);
    s = Next(s, Event{}, 12'000, 12'000, p);
    EXPECT_EQ(s.health, Health::kValid);
    EXPECT_EQ(s.consecutive_failures, 0);
}

TEST(CredentialState, InvalidStaysUntilResetAndIgnoresLateSuccesses) {
    Policy p;
    Event inv;
    inv.kind = Event::Kind::kInvalid;
    inv.error = "401 authentication_error: invalid x-api-key";
    Status s = Next({}, inv, 0, 0, p);
    EXPECT_EQ(s.health, Health::kInvalid);
    s = Next(s, Event{}, 1'000'000, 1'000'000, p);
    EXPECT_EQ(s.health, Health::kInvalid);
    Event late429;
    late429.kind = Event::Kind::kRateLimited;
    late429.reset_after_ms = 10;
    s = Next(s, late429, 1'000'001, 1'000'001, p);
    EXPECT_EQ(s.health, Health::kInvalid);
    EXPECT_EQ(EffectiveHealth(s, 10'000'000), Health::kInvalid);
    EXPECT_EQ(s.last_error, "401 authentication_error: invalid x-api-key");
}

TEST(CredentialState, LowRemainingQuotaMakesACredentialTheLastChoiceUntilTheReset) {
    Policy p;
    Event ok;
    ok.remaining_fraction = 0.01;
    ok.remaining_reset_after_ms = 4000;
    Status s = Next({}, ok, 100, 100, p);
    EXPECT_EQ(s.health, Health::kValid);
    EXPECT_EQ(s.pressured_until_ms, 4100);
    ok.remaining_fraction = 0.0;
    s = Next(s, ok, 200, 200, p);
    EXPECT_EQ(s.health, Health::kValid);  // pressured, not cooling: limits refill continuously
    EXPECT_EQ(s.pressured_until_ms, 4200);
    ok.remaining_fraction = 0.5;
    s = Next(s, ok, 300, 300, p);
    EXPECT_EQ(s.pressured_until_ms, 0);
}

TEST(HealthTable, RecordsWithAFakeClockAndPersistsOnlyChanges) {
    base::FakeClock clock;
    HealthTable table(clock);
    std::vector<Persisted> stored;
    table.SetSink([&](const std::string&, const Persisted& p) { stored.push_back(p); });
    auto h = table.Get("c1");
    Policy p;
    table.Record("c1", *h, Event{}, p);
    EXPECT_TRUE(stored.empty());
    table.Record("c1", *h, RateLimited(2000), p);
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_EQ(stored[0].state, "cooling_down");
    EXPECT_EQ(*stored[0].cooldown_until_wall_ms, clock.WallMs() + 2000);
    EXPECT_FALSE(h->Available(clock.SteadyMs()));
    clock.Advance(2000);
    EXPECT_TRUE(h->Available(clock.SteadyMs()));
    table.Record("c1", *h, Event{}, p);
    ASSERT_EQ(stored.size(), 2u);
    EXPECT_EQ(stored[1].state, "valid");
    EXPECT_EQ(h->rate_limited.load(), 1);
    EXPECT_EQ(h->successes.load(), 2);
}

TEST(HealthTable, SeedConvertsAStoredWallClockCooldownToSteadyTime) {
    base::FakeClock clock;
    HealthTable table(clock);
    table.Seed("c1", "cooling_down", std::string("429"), clock.WallMs() + 3000);
    table.Seed("c2", "cooling_down", std::nullopt, clock.WallMs() - 3000);
    table.Seed("c3", "invalid", std::string("401"), std::nullopt);
    EXPECT_FALSE(table.Find("c1")->Available(clock.SteadyMs()));
    EXPECT_TRUE(table.Find("c2")->Available(clock.SteadyMs()));
    EXPECT_EQ(table.Find("c3")->health(), Health::kInvalid);
    // A wall-clock jump does not move a running cooldown.
    clock.JumpWall(3'600'000);
    EXPECT_FALSE(table.Find("c1")->Available(clock.SteadyMs()));
    clock.Advance(3000);
    EXPECT_TRUE(table.Find("c1")->Available(clock.SteadyMs()));
    table.Reset("c3");
    EXPECT_EQ(table.Find("c3")->health(), Health::kValid);
}

TEST(HealthTable, ConcurrencyCapHolds) {
    CredentialHealth h;
    EXPECT_TRUE(h.TryAcquire(2));
    EXPECT_TRUE(h.TryAcquire(2));
    EXPECT_FALSE(h.TryAcquire(2));
    h.Release();
    EXPECT_TRUE(h.TryAcquire(2));
    EXPECT_TRUE(h.TryAcquire(0));
}

TEST(RetryAfter, ParsesSecondsAndRejectsDates) {
    EXPECT_EQ(ParseRetryAfterMs("2"), 2000);
    EXPECT_EQ(ParseRetryAfterMs(" 1.5 "), 1500);
    EXPECT_FALSE(ParseRetryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT"));
    EXPECT_FALSE(ParseRetryAfterMs(""));
}

upstream::ResponseHead Head(std::string raw) {
    upstream::ResponseHead h;
    size_t used = 0;
    std::string err;
    EXPECT_EQ(upstream::ParseResponseHead(raw, 65536, h, used, err), upstream::ParseStatus::kComplete) << err;
    return h;
}

TEST(Classify, RateLimitHeadersFeedTheEvent) {
    // 2026-11-27T10:00:00Z = 1795773600000
    const int64_t now = 1795773600000;
    auto h = Head(
        "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n"
        "anthropic-ratelimit-requests-limit: 100\r\nanthropic-ratelimit-requests-remaining: 2\r\n"
        "anthropic-ratelimit-requests-reset: 2026-11-27T10:00:30Z\r\n"
        "anthropic-ratelimit-tokens-limit: 1000\r\nanthropic-ratelimit-tokens-remaining: 900\r\n"
        "anthropic-ratelimit-tokens-reset: 2026-11-27T10:00:05Z\r\n\r\n");
    auto e = EventFromResponse(h, now);
    EXPECT_EQ(e.kind, Event::Kind::kSuccess);
    ASSERT_TRUE(e.remaining_fraction);
    EXPECT_DOUBLE_EQ(*e.remaining_fraction, 0.02);
    EXPECT_EQ(*e.remaining_reset_after_ms, 30'000);

    auto r = EventFromResponse(Head("HTTP/1.1 429 Too Many\r\ncontent-length: 0\r\nretry-after: 2\r\n\r\n"), now);
    EXPECT_EQ(r.kind, Event::Kind::kRateLimited);
    EXPECT_EQ(*r.reset_after_ms, 2000);

    auto r2 = EventFromResponse(Head("HTTP/1.1 429 Too Many\r\ncontent-length: 0\r\n"
                                     "anthropic-ratelimit-input-tokens-limit: 10\r\n"
                                     "anthropic-ratelimit-input-tokens-remaining: 0\r\n"
                                     "anthropic-ratelimit-input-tokens-reset: 2026-11-27T10:00:12Z\r\n\r\n"),
                                now);
    EXPECT_EQ(*r2.reset_after_ms, 12'000);
    EXPECT_EQ(EventFromResponse(Head("HTTP/1.1 401 No\r\ncontent-length: 0\r\n\r\n"), now).kind, Event::Kind::kInvalid);
    EXPECT_EQ(EventFromResponse(Head("HTTP/1.1 529 Busy\r\ncontent-length: 0\r\n\r\n"), now).kind, Event::Kind::kFailure);
    EXPECT_EQ(EventFromResponse(Head("HTTP/1.1 400 Bad\r\ncontent-length: 0\r\n\r\n"), now).kind, Event::Kind::kSuccess);
    EXPECT_EQ(Judge(400), Verdict::kRelay);
    EXPECT_EQ(Judge(413), Verdict::kRelay);
    EXPECT_EQ(Judge(429), Verdict::kNextCredential);
    EXPECT_EQ(Judge(403), Verdict::kNextCredential);
    EXPECT_EQ(Judge(529), Verdict::kNextUpstream);
    EXPECT_EQ(Judge(502), Verdict::kNextUpstream);
}

}  // namespace
}  // namespace clove::routing
