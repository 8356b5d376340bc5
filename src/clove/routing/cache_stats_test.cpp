#include "clove/routing/cache_stats.hpp"

#include <gtest/gtest.h>

namespace clove::routing {
namespace {

TEST(CacheStats, ReadShareIsPerKeyCredentialAndSession) {
    CacheStats s(2);
    s.Record("key_a", "cred_1", "sess-1", 100, 900, 0, 1);
    s.Record("key_a", "cred_1", "sess-1", 100, 0, 900, 2);
    s.Record("key_b", "cred_2", "", 50, 0, 0, 3);
    auto keys = s.Keys();
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0].id, "key_b");  // most recent first
    EXPECT_DOUBLE_EQ(keys[1].ReadShare(), 900.0 / 2000.0);
    EXPECT_EQ(s.Credentials().size(), 2u);
    auto sessions = s.Sessions();
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_EQ(sessions[0].requests, 2);
    EXPECT_EQ(sessions[0].credential_id, "cred_1");
    s.Record("key_a", "cred_1", "sess-2", 1, 1, 1, 4);
    s.Record("key_a", "cred_1", "sess-3", 1, 1, 1, 5);  // bounded: sess-1 (oldest) goes
    sessions = s.Sessions();
    ASSERT_EQ(sessions.size(), 2u);
    EXPECT_EQ(sessions[0].id, "sess-3");
    EXPECT_EQ(sessions[1].id, "sess-2");
    EXPECT_DOUBLE_EQ(CacheStats::Row{}.ReadShare(), 0.0);
}

}  // namespace
}  // namespace clove::routing
