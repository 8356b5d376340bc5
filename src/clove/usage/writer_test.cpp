#include "clove/usage/writer.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "clove/auth/secrets.hpp"
#include "clove/storage/repository.hpp"

using namespace clove;

namespace {
std::string TempDir() {
    auto dir = std::filesystem::temp_directory_path() / ("clove-writer-" + auth::GenerateId(""));
    std::filesystem::create_directories(dir);
    return dir.string();
}
usage::UsageRecord Rec(int i) {
    usage::UsageRecord r;
    r.request_id = "req_" + std::to_string(i);
    r.ts_ms = storage::NowMs();
    r.key_id = "key_a";
    r.status = 200;
    r.input_tokens = i;
    r.output_tokens = 1;
    return r;
}
int64_t Count(storage::Database& db) {
    return db.Read([](storage::Session& s) { return s.Query("SELECT COUNT(*), SUM(input_tokens) FROM usage", {}).at(0).Int(0); });
}
}  // namespace

TEST(UsageWriter, StopFlushesEveryRecordInBatches) {
    auto dir = TempDir();
    auto db = storage::OpenSqlite(dir + "/clove.db");
    storage::Migrate(*db);
    usage::WriterOptions o;
    o.spool_path = dir + "/spool.jsonl";
    usage::UsageWriter w(*db, o);
    w.Start();
    for (int i = 0; i < 1234; ++i) {
        w.Push(Rec(i));
    }
    w.Stop();
    EXPECT_EQ(Count(*db), 1234);
    EXPECT_EQ(w.written(), 1234u);
    EXPECT_FALSE(std::filesystem::exists(o.spool_path));
}

TEST(UsageWriter, FullQueueSpillsToTheSpoolAndTheSpoolIsReplayed) {
    auto dir = TempDir();
    auto db = storage::OpenSqlite(dir + "/clove.db");
    storage::Migrate(*db);
    usage::WriterOptions o;
    o.spool_path = dir + "/spool.jsonl";
    o.capacity = 10;
    {
        usage::UsageWriter w(*db, o);  // not started: the queue fills, the rest spills
        for (int i = 0; i < 25; ++i) {
            w.Push(Rec(i));
        }
        EXPECT_EQ(w.queue_depth(), 10u);
        EXPECT_EQ(w.spooled(), 15u);
        w.Start();
        w.Stop();
    }
    EXPECT_EQ(Count(*db), 25);
    EXPECT_FALSE(std::filesystem::exists(o.spool_path));
}

TEST(UsageWriter, SpoolLinesRoundTrip) {
    auto r = Rec(7);
    r.model = "claude-\"odd\"\nmodel";
    r.stream = true;
    r.ttfb_ms = 12.25;
    r.cost_nanousd = 123456789;
    usage::UsageRecord back;
    ASSERT_TRUE(usage::UsageWriter::FromLine(usage::UsageWriter::ToLine(r), back));
    EXPECT_EQ(back.model, r.model);
    EXPECT_TRUE(back.stream);
    EXPECT_EQ(back.ttfb_ms, 12.25);
    EXPECT_EQ(back.cost_nanousd, 123456789);
    EXPECT_FALSE(usage::UsageWriter::FromLine("{not json", back));
}
