#include "clove/base/glob.hpp"

#include <gtest/gtest.h>

using clove::base::GlobMatch;

TEST(GlobMatch, MatchesPrefixStar) {
    EXPECT_TRUE(GlobMatch("claude-*", "claude-sonnet-4-5"));
    EXPECT_TRUE(GlobMatch("claude-*", "claude-"));
    EXPECT_FALSE(GlobMatch("claude-*", "gpt-4o"));
    EXPECT_FALSE(GlobMatch("claude-*", "claude"));
}

TEST(GlobMatch, MatchesInnerStarsAndQuestionMarks) {
    EXPECT_TRUE(GlobMatch("claude-*-4-?", "claude-opus-4-8"));
    EXPECT_FALSE(GlobMatch("claude-*-4-?", "claude-opus-4-10"));
    EXPECT_TRUE(GlobMatch("*sonnet*", "claude-sonnet-4-5"));
    EXPECT_TRUE(GlobMatch("*", ""));
    EXPECT_TRUE(GlobMatch("", ""));
    EXPECT_FALSE(GlobMatch("", "x"));
}

TEST(GlobMatch, ExactWithoutMetacharacters) {
    EXPECT_TRUE(GlobMatch("claude-latest", "claude-latest"));
    EXPECT_FALSE(GlobMatch("claude-latest", "claude-latest2"));
    EXPECT_TRUE(clove::base::IsLiteralGlob("claude-latest"));
    EXPECT_FALSE(clove::base::IsLiteralGlob("claude-*"));
}

TEST(GlobMatch, BacktracksAcrossRepeatedPrefixes) {
    EXPECT_TRUE(GlobMatch("*aab", "aaaaaab"));
    EXPECT_FALSE(GlobMatch("*aac", "aaaaaab"));
}
