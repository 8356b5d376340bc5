#include "clove/quota/limiter.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace clove::quota {
namespace {

TEST(Limiter, RpmIsExactPerFixedMinuteAndResetsWithTheClock) {
    base::FakeClock clock(60'000 * 100, 1'790'000'000'000);
    Limiter lim(clock);
    config::Limits l;
    l.rpm = 20;
    std::vector<Ticket> held;
    int ok = 0;
    for (int i = 0; i < 50; ++i) {
        Ticket t;
        auto r = lim.Admit("k", l, 0, t);
        if (!r) {
            ++ok;
            held.push_back(std::move(t));
        } else {
            EXPECT_EQ(r->status, 429);
            EXPECT_EQ(r->limit, "rpm");
            EXPECT_EQ(r->retry_after_ms, 60'000);
        }
    }
    EXPECT_EQ(ok, 20);
    clock.Advance(59'999);
    Ticket t;
    EXPECT_TRUE(lim.Admit("k", l, 0, t));
    clock.Advance(1);
    EXPECT_FALSE(lim.Admit("k", l, 0, t));
}

TEST(Limiter, ParallelAdmissionsNeverExceedTheLimit) {
    base::FakeClock clock(0, 1'790'000'000'000);
    Limiter lim(clock);
    config::Limits l;
    l.rpm = 20;
    std::atomic<int> ok{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 8; ++i) {
        ts.emplace_back([&] {
            for (int j = 0; j < 50; ++j) {
                Ticket t;
                if (!lim.Admit("k", l, 0, t)) {
                    ++ok;
                }
            }
        });
    }
    for (auto& t : ts) t.join();
    EXPECT_EQ(ok.load(), 20);
}

TEST(Limiter, ConcurrencySlotsAreReleasedBySettle) {
    base::FakeClock clock;
    Limiter lim(clock);
    config::Limits l;
    l.concurrency = 2;
    Ticket a, b, c;
    EXPECT_FALSE(lim.Admit("k", l, 0, a));
    EXPECT_FALSE(lim.Admit("k", l, 0, b));
    auto r = lim.Admit("k", l, 0, c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->limit, "concurrency");
    a.Settle(1, 1, 0);
    EXPECT_FALSE(lim.Admit("k", l, 0, c));
}

TEST(Limiter, TokenLimitsCountSettledUsage) {
    base::FakeClock clock(0, 1'790'000'000'000);
    Limiter lim(clock);
    config::Limits l;
    l.output_tpm = 100;
    Ticket t;
    ASSERT_FALSE(lim.Admit("k", l, 0, t));
    t.Settle(10, 150, 0);
    auto r = lim.Admit("k", l, 0, t);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->limit, "output_tpm");
    clock.Advance(60'000);
    EXPECT_FALSE(lim.Admit("k", l, 0, t));
}

TEST(Limiter, BudgetReservationsPreventOverspendAndSettleToTheRealCost) {
    base::FakeClock clock;
    Limiter lim(clock);
    config::Limits l;
    l.daily_budget_usd = 1.0;  // 1e9 nano
    std::vector<Ticket> held(5);
    for (auto& t : held) {
        ASSERT_FALSE(lim.Admit("k", l, 200'000'000, t));
    }
    Ticket extra;
    auto r = lim.Admit("k", l, 200'000'000, extra);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 402);
    EXPECT_EQ(r->limit, "daily_budget_usd");
    held[0].Settle(0, 0, 50'000'000);  // cost less than reserved: room for one more
    EXPECT_FALSE(lim.Admit("k", l, 150'000'000, extra));
    EXPECT_EQ(lim.SpendOf("k").day, 50'000'000);
    // A new UTC day starts from zero.
    for (auto& t : held) t.Settle(0, 0, 200'000'000);
    extra.Settle(0, 0, 0);
    EXPECT_TRUE(lim.Admit("k", l, 200'000'000, extra));
    clock.Advance(86'400'000);
    EXPECT_FALSE(lim.Admit("k", l, 200'000'000, extra));
}

TEST(Limiter, SeededSpendCountsAndPeriodsAreUtc) {
    base::FakeClock clock(0, 1'795'773'600'000);  // 2026-11-27T10:00:00Z
    EXPECT_EQ(Limiter::DayStartMs(clock.WallMs()), 1'795'737'600'000);
    EXPECT_EQ(Limiter::MonthStartMs(clock.WallMs()), 1'793'491'200'000);  // 2026-11-01
    Limiter lim(clock);
    lim.SeedSpend("k", 0, 900'000'000, 900'000'000);
    config::Limits l;
    l.monthly_budget_usd = 1.0;
    Ticket t;
    auto r = lim.Admit("k", l, 200'000'000, t);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->limit, "monthly_budget_usd");
    EXPECT_FALSE(lim.Admit("k", l, 100'000'000, t));
}

}  // namespace
}  // namespace clove::quota
