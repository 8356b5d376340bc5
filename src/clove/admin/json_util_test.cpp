#include "clove/admin/json_util.hpp"

#include <gtest/gtest.h>

using namespace clove;

TEST(AdminJson, TimesRoundTrip) {
    EXPECT_EQ(admin::FormatTime(0), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(admin::FormatTime(1795761443120), "2026-11-27T06:37:23.120Z");
    EXPECT_EQ(admin::ParseTime("2026-11-27T06:37:23.120Z"), 1795761443120);
    EXPECT_EQ(admin::ParseTime("2026-11-27T07:37:23.12+01:00"), 1795761443120);
    EXPECT_EQ(admin::ParseTime("1795761443120"), 1795761443120);
    EXPECT_FALSE(admin::ParseTime("2026-13-27T06:37:23Z"));
    EXPECT_FALSE(admin::ParseTime("yesterday"));
    EXPECT_FALSE(admin::ParseTime("2026-11-27T06:37:23"));
    EXPECT_FALSE(admin::ParseTime("' OR 1=1 --"));
}

TEST(AdminJson, FieldsRejectWrongTypesAndUnknownFieldsWithThePath) {
    auto obj = admin::ParseObject(R"({"name":"x","n":5,"b":true,"list":["a",""],"extra":1})");
    admin::Fields f(obj, "limits.");
    EXPECT_EQ(f.String("name"), std::optional<std::string>("x"));
    EXPECT_EQ(f.Int("n", 1, 10), 5);
    try {
        f.Int("n", 6, 10);
        FAIL();
    } catch (const admin::ApiError& e) {
        EXPECT_EQ(e.field, "limits.n");
        EXPECT_EQ(e.status, 400);
    }
    try {
        f.Strings("list");
        FAIL();
    } catch (const admin::ApiError& e) {
        EXPECT_EQ(e.field, "limits.list[1]");
    }
    try {
        f.RejectUnknown({"name", "n", "b", "list"});
        FAIL();
    } catch (const admin::ApiError& e) {
        EXPECT_EQ(e.field, "limits.extra");
    }
    EXPECT_THROW(admin::ParseObject("[1]"), admin::ApiError);
    EXPECT_THROW(admin::ParseObject("{bad"), admin::ApiError);
    EXPECT_TRUE(admin::IsName("team-a.b_c", 64, "._-"));
    EXPECT_FALSE(admin::IsName("a'b", 64, "._-"));
    EXPECT_FALSE(admin::IsName("", 64, "._-"));
}
