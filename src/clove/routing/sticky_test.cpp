#include "clove/routing/sticky.hpp"

#include <gtest/gtest.h>

namespace clove::routing {
namespace {

TEST(StickyTable, RemembersForTheTtlAndAHitRefreshesIt) {
    StickyTable t;
    t.Remember(42, "cred-a", 0, 1000);
    EXPECT_EQ(t.Lookup(42, 999, 1000), "cred-a");  // refreshed to 1999
    EXPECT_EQ(t.Lookup(42, 1500, 1000), "cred-a");
    EXPECT_FALSE(t.Lookup(42, 2600, 1000));
    EXPECT_FALSE(t.Lookup(7, 0, 1000));
}

TEST(StickyTable, StaysBoundedAndSweepsExpiredEntriesFirst) {
    StickyTable t(16 * 16);
    for (uint64_t i = 0; i < 10'000; ++i) {
        t.Remember(i * 0x9E3779B97F4A7C15ull, "c", static_cast<int64_t>(i), 10);
    }
    EXPECT_LE(t.size(), 16u * 16u);
    EXPECT_EQ(t.Lookup(9'999 * 0x9E3779B97F4A7C15ull, 10'000, 10), "c");
}

}  // namespace
}  // namespace clove::routing
