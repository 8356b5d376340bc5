#include "clove/base/request_id.hpp"

#include <gtest/gtest.h>

#include <set>

TEST(RequestIdGenerator, ProducesDistinctWellFormedIds) {
    clove::base::RequestIdGenerator gen;
    std::set<std::string> seen;
    for (int i = 0; i < 10000; ++i) {
        auto id = gen.Next();
        ASSERT_EQ(id.size(), 34u);
        ASSERT_EQ(id.rfind("req_clove_", 0), 0u);
        ASSERT_TRUE(seen.insert(id).second);
    }
}
