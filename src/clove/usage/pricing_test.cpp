#include "clove/usage/pricing.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

using namespace clove;

TEST(Pricing, MostSpecificPatternWins) {
    usage::PriceTable t({});
    ASSERT_NE(t.Find("claude-opus-4-1-20250805"), nullptr);
    EXPECT_EQ(t.Find("claude-opus-4-1-20250805")->input, 15);
    EXPECT_EQ(t.Find("claude-opus-4-5-20251101")->input, 5);
    EXPECT_EQ(t.Find("claude-opus-9")->input, 5);  // unknown future opus: the generic pattern
    EXPECT_EQ(t.Find("claude-sonnet-4-5")->output, 15);
    EXPECT_EQ(t.Find("claude-3-5-haiku-20241022")->input, 0.8);
    EXPECT_EQ(t.Find("gpt-4o"), nullptr);
}

TEST(Pricing, OverridesReplaceOrAdd) {
    usage::PriceTable t({{"claude-sonnet-*", 2, 10, 2.5, 4, 0.2}, {"llama-*", 0.1, 0.2, 0, 0, 0}});
    EXPECT_EQ(t.Find("claude-sonnet-4-5")->input, 2);
    EXPECT_EQ(t.Find("llama-3")->output, 0.2);
    int custom = 0;
    for (const auto& e : t.entries()) {
        custom += e.custom ? 1 : 0;
    }
    EXPECT_EQ(custom, 2);
}

TEST(Pricing, RememberedAnswersBelongToTheirTable) {
    // Same thread, same model, tables alive at once and one made where another was freed: each
    // answers from its own patterns, and an answer read again (from the memo) is the same.
    auto a = std::make_unique<usage::PriceTable>(std::vector<config::PriceSpec>{{"claude-sonnet-*", 2, 10, 2.5, 4, 0.2}});
    usage::PriceTable b({{"claude-sonnet-*", 7, 70, 8, 9, 0.7}});
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(a->Find("claude-sonnet-4-5")->input, 2);
        EXPECT_EQ(b.Find("claude-sonnet-4-5")->input, 7);
    }
    a.reset();
    auto c = std::make_unique<usage::PriceTable>(std::vector<config::PriceSpec>{{"claude-sonnet-*", 3, 30, 4, 6, 0.3}});
    EXPECT_EQ(c->Find("claude-sonnet-4-5")->input, 3);
    // more models than the memo holds: every answer stays right
    for (int round = 0; round < 2; ++round) {
        for (int i = 0; i < 20; ++i) {
            const std::string m = "claude-opus-4-" + std::to_string(i);
            usage::PriceTable fresh({{"claude-sonnet-*", 7, 70, 8, 9, 0.7}});  // a new table: no memo
            ASSERT_NE(b.Find(m), nullptr);
            EXPECT_EQ(b.Find(m)->input, fresh.Find(m)->input) << m;
            EXPECT_EQ(b.Find(m)->model, fresh.Find(m)->model) << m;
            EXPECT_EQ(b.Find("gpt-" + std::to_string(i)), nullptr);
        }
    }
    EXPECT_EQ(b.Find(std::string(300, 'x')), nullptr);  // too long to remember, still answered
}

TEST(Pricing, CacheWritesArePricedByTtl) {
    config::PriceSpec p{"m", 3, 15, -1, -1, -1};
    usage::DeriveCachePrices(p);
    EXPECT_DOUBLE_EQ(p.cache_write_5m, 3.75);
    EXPECT_DOUBLE_EQ(p.cache_write_1h, 6);
    EXPECT_DOUBLE_EQ(p.cache_read, 0.3);
    usage::UsageRecord r;
    r.input_tokens = 1000;
    r.output_tokens = 100;
    r.cache_creation_tokens = 3000;
    r.cache_creation_5m_tokens = 1000;
    r.cache_creation_1h_tokens = 2000;
    r.cache_read_tokens = 10000;
    // 1000*3 + 100*15 + 1000*3.75 + 2000*6 + 10000*0.3 = 3000+1500+3750+12000+3000 = 23250 µ$ per M → nano
    EXPECT_EQ(usage::CostNanoUsd(r, p), 23250 * 1000);
    r.cache_creation_5m_tokens = 0;
    r.cache_creation_1h_tokens = 0;  // no split reported: all 5-minute writes
    EXPECT_EQ(usage::CostNanoUsd(r, p), (3000 + 1500 + 3000 * 3.75 + 3000) * 1000);
}
