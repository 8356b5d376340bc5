// Runs against SQLite always, and against PostgreSQL when CLOVE_TEST_PG_URL names a server
// where a fresh database can be created (scripts/test.sh starts one).

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "clove/storage/db.hpp"
#include "clove/storage/repository.hpp"

using namespace clove;
using storage::Session;

namespace {

std::string TempDir() {
    auto dir = std::filesystem::temp_directory_path() / ("clove-storage-" + auth::GenerateId(""));
    std::filesystem::create_directories(dir);
    return dir.string();
}

std::unique_ptr<storage::Database> OpenFresh(const std::string& backend) {
    if (backend == "sqlite") {
        return storage::OpenSqlite(TempDir() + "/clove.db");
    }
    const char* url = std::getenv("CLOVE_TEST_PG_URL");
    if (!url || !*url) {
        return nullptr;
    }
    auto admin = storage::OpenPostgres(url, 5000);
    std::string name = "clove_unit_" + auth::GenerateId("");
    for (auto& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    admin->Read([&](Session& s) { s.ExecScript("CREATE DATABASE " + name); });
    std::string u = url;
    auto slash = u.rfind('/');
    auto q = u.find('?', slash);
    std::string rest = q == std::string::npos ? "" : u.substr(q);
    return storage::OpenPostgres(u.substr(0, slash + 1) + name + rest, 5000);
}

class StorageTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        db_ = OpenFresh(GetParam());
        if (!db_) {
            GTEST_SKIP() << "CLOVE_TEST_PG_URL not set";
        }
        ASSERT_EQ(storage::Migrate(*db_), storage::LatestSchemaVersion());
        ASSERT_EQ(storage::Migrate(*db_), 0);  // idempotent
    }
    std::unique_ptr<storage::Database> db_;
};

usage::UsageRecord Rec(const std::string& id, int64_t ts, const std::string& key, int64_t in, int64_t out,
                       int status = 200) {
    usage::UsageRecord r;
    r.request_id = id;
    r.ts_ms = ts;
    r.key_id = key;
    r.upstream_id = "up_1";
    r.credential_id = "cred_1";
    r.model = "claude-sonnet-4-5";
    r.upstream_model = "claude-sonnet-4-5";
    r.status = status;
    r.input_tokens = in;
    r.output_tokens = out;
    r.cost_nanousd = in * 3000 + out * 15000;
    r.duration_ms = 12.5;
    return r;
}

}  // namespace

TEST_P(StorageTest, UpstreamsCredentialsAndKeysRoundTrip) {
    auto box = auth::SecretBox::Load(std::nullopt, TempDir());
    storage::UpstreamRow u;
    u.id = "up_1";
    u.cfg.name = "main";
    u.cfg.base_url = "https://api.anthropic.com";
    u.cfg.models = {"claude-*", "x'); DROP TABLE upstreams; --"};
    u.cfg.model_map = {{"latest", "claude-sonnet-4-5"}};
    u.priority = 3;
    u.created_at = u.updated_at = 1000;
    db_->Write([&](Session& s) { storage::InsertUpstream(s, u); });
    EXPECT_THROW(db_->Write([&](Session& s) { storage::InsertUpstream(s, u); }), storage::DbError);
    try {
        db_->Write([&](Session& s) { storage::InsertUpstream(s, u); });
    } catch (const storage::DbError& e) {
        EXPECT_TRUE(e.constraint());
        EXPECT_FALSE(e.unavailable());
    }
    storage::CredentialRow c;
    c.id = "cred_1";
    c.upstream_id = "up_1";
    c.sealed = box.Seal("sk-canary-abcdef123456", c.id);
    c.fingerprint = box.Fingerprint("sk-canary-abcdef123456");
    c.hint = auth::Hint("sk-canary-abcdef123456");
    c.created_at = 1000;
    storage::ClientKeyRow k;
    k.id = "key_1";
    k.name = "alice";
    k.prefix = "clv_abc";
    k.hash = std::string(64, 'a');
    k.allowed_models = {"claude-haiku-*"};
    k.limits.rpm = 60;
    k.limits.budget_usd = 12.5;
    db_->Write([&](Session& s) {
        storage::InsertCredential(s, c);
        storage::InsertClientKey(s, k);
        storage::AppendAudit(s, "admin:x", "create", "upstream", "up_1", "{}");
    });
    auto st = db_->Write([&](Session& s) { return storage::LoadRuntimeState(s, box); });
    ASSERT_EQ(st.upstreams.size(), 1u);
    EXPECT_EQ(st.upstreams[0].config.models[1], "x'); DROP TABLE upstreams; --");
    EXPECT_EQ(st.upstreams[0].config.model_map.at("latest"), "claude-sonnet-4-5");
    EXPECT_EQ(st.upstreams[0].priority, 3);
    ASSERT_EQ(st.upstreams[0].credentials.size(), 1u);
    EXPECT_EQ(st.upstreams[0].credentials[0].secret, "sk-canary-abcdef123456");
    ASSERT_EQ(st.client_keys.size(), 1u);
    EXPECT_EQ(st.client_keys[0].allowed_models, std::vector<std::string>{"claude-haiku-*"});
    EXPECT_EQ(st.client_keys[0].limits.rpm, 60);
    EXPECT_EQ(st.client_keys[0].limits.budget_usd, 12.5);
    db_->Write([&](Session& s) { EXPECT_TRUE(storage::DeleteUpstream(s, "up_1")); });
    EXPECT_TRUE(db_->Read([&](Session& s) { return storage::ListCredentials(s, std::nullopt); }).empty());
    EXPECT_EQ(db_->Read([&](Session& s) { return storage::ListAudit(s, 10, std::nullopt); }).size(), 1u);
}

TEST_P(StorageTest, UsageInsertIsIdempotentAndRollsUp) {
    std::vector<usage::UsageRecord> batch = {Rec("req_1", 3'600'000 * 10 + 5, "key_a", 100, 10),
                                             Rec("req_2", 3'600'000 * 10 + 9, "key_a", 50, 5, 429),
                                             Rec("req_3", 3'600'000 * 11, "key_b", 7, 1)};
    EXPECT_EQ(db_->WriteUsage([&](Session& s) { return storage::InsertUsage(s, batch); }), 3u);
    EXPECT_EQ(db_->WriteUsage([&](Session& s) { return storage::InsertUsage(s, batch, true); }), 0u);  // replay
    auto by_key = db_->Read([](Session& s) { return storage::SummarizeUsage(s, "key", 0, 3'600'000 * 24); });
    ASSERT_EQ(by_key.size(), 2u);
    int64_t requests = 0, input = 0, cost = 0, errors = 0;
    for (const auto& r : by_key) {
        requests += r.requests;
        input += r.input_tokens;
        cost += r.cost_nanousd;
        errors += r.errors;
    }
    EXPECT_EQ(requests, 3);
    EXPECT_EQ(input, 157);
    EXPECT_EQ(errors, 1);
    EXPECT_EQ(cost, 157 * 3000 + 16 * 15000);
    auto hours = db_->Read([](Session& s) { return storage::SummarizeUsage(s, "hour", 0, 3'600'000 * 24); });
    ASSERT_EQ(hours.size(), 2u);
    EXPECT_EQ(hours[0].group, std::to_string(3'600'000 * 10));
    // Exact edges: [10h+6ms, 11h) holds only req_2 (10h+9ms); [0, 10h+6ms) only req_1.
    auto edge = db_->Read([](Session& s) { return storage::SummarizeUsage(s, "key", 3'600'000 * 10 + 6, 3'600'000 * 11); });
    ASSERT_EQ(edge.size(), 1u);
    EXPECT_EQ(edge[0].requests, 1);
    EXPECT_EQ(edge[0].input_tokens, 50);
    auto head = db_->Read([](Session& s) { return storage::SummarizeUsage(s, "model", 0, 3'600'000 * 10 + 6); });
    ASSERT_EQ(head.size(), 1u);
    EXPECT_EQ(head[0].input_tokens, 100);
    auto all = db_->Read([](Session& s) { return storage::SummarizeUsage(s, "day", 5, 3'600'000 * 11 + 1); });
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].requests, 3);
    storage::UsageFilter f;
    f.key_id = "key_a";
    f.limit = 1;
    auto page = db_->Read([&](Session& s) { return storage::QueryUsage(s, f); });
    ASSERT_EQ(page.size(), 1u);
    EXPECT_EQ(page[0].r.request_id, "req_2");
    f.before_id = page[0].id;
    page = db_->Read([&](Session& s) { return storage::QueryUsage(s, f); });
    ASSERT_EQ(page.size(), 1u);
    EXPECT_EQ(page[0].r.request_id, "req_1");
    storage::UsageFilter errs;
    errs.status_range = {400, 999};
    EXPECT_EQ(db_->Read([&](Session& s) { return storage::QueryUsage(s, errs); }).size(), 1u);
    EXPECT_EQ(db_->WriteUsage([](Session& s) { return storage::PruneUsage(s, 3'600'000 * 11, 5000); }), 2);
}

TEST_P(StorageTest, SettingsAndPrices) {
    config::Settings st;
    st.log_level = "debug";
    st.outbound_proxy = "http://127.0.0.1:3128";
    st.usage_retention_days = 7;
    st.default_limits.concurrency = 4;
    db_->Write([&](Session& s) {
        storage::SaveSettings(s, st);
        storage::UpsertPrice(s, {"my-model*", 1, 2, 1.25, 2, 0.1});
        storage::UpsertPrice(s, {"my-model*", 2, 4, 2.5, 4, 0.2});
    });
    auto back = db_->Read([](Session& s) { return storage::LoadSettings(s); });
    EXPECT_EQ(back.log_level, "debug");
    EXPECT_EQ(back.outbound_proxy, std::optional<std::string>("http://127.0.0.1:3128"));
    EXPECT_EQ(back.usage_retention_days, 7);
    EXPECT_EQ(back.default_limits.concurrency, 4);
    auto prices = db_->Read([](Session& s) { return storage::ListPriceOverrides(s); });
    ASSERT_EQ(prices.size(), 1u);
    EXPECT_EQ(prices[0].input, 2);
    db_->Write([](Session& s) { EXPECT_TRUE(storage::DeletePrice(s, "my-model*")); });
}

TEST(SqlitePlans, EveryRequestLogFilterUsesAnIndex) {
    auto db = storage::OpenSqlite(TempDir() + "/clove.db");
    storage::Migrate(*db);
    auto plan = [&](const storage::UsageFilter& f) {
        return db->Read([&](Session& s) { return storage::ExplainUsageQuery(s, f); });
    };
    auto uses_index = [](const std::string& p) {
        // Either an index search or the rowid order of the primary key; never a bare table scan
        // followed by a sort.
        return p.find("USE TEMP B-TREE") == std::string::npos &&
               (p.find("USING INDEX") != std::string::npos || p.find("USING INTEGER PRIMARY KEY") != std::string::npos ||
                p.find("SCAN u") != std::string::npos);
    };
    storage::UsageFilter none;
    EXPECT_TRUE(uses_index(plan(none))) << plan(none);
    storage::UsageFilter key;
    key.key_id = "key_a";
    EXPECT_NE(plan(key).find("usage_key"), std::string::npos) << plan(key);
    // Upstream and model filters walk the primary key newest-first (no index to maintain per
    // insert; a filter matching 1 % of rows reads ~100 rows per result).
    storage::UsageFilter up;
    up.upstream_id = "up_a";
    EXPECT_TRUE(uses_index(plan(up))) << plan(up);
    storage::UsageFilter model;
    model.model = "claude-sonnet-4-5";
    EXPECT_TRUE(uses_index(plan(model))) << plan(model);
    storage::UsageFilter status;
    status.status = 429;
    EXPECT_NE(plan(status).find("usage_errors"), std::string::npos) << plan(status);
    storage::UsageFilter errors;
    errors.status_range = {400, 999};
    EXPECT_NE(plan(errors).find("usage_errors"), std::string::npos) << plan(errors);
    for (const auto* f : {&none, &key, &up, &model, &status, &errors}) {
        EXPECT_EQ(plan(*f).find("TEMP B-TREE"), std::string::npos) << plan(*f);
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, StorageTest, ::testing::Values("sqlite", "postgres"));

TEST(Postgres, UnreachableServerFailsFastAsUnavailable) {
    auto t0 = std::chrono::steady_clock::now();
    try {
        storage::OpenPostgres("postgres://clove@127.0.0.1:1/none", 2000);
        FAIL() << "connected to port 1?";
    } catch (const storage::DbError& e) {
        EXPECT_TRUE(e.unavailable());
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}
