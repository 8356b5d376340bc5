#include "clove/usage/writer.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

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
struct Opened {
    std::string dir;
    std::unique_ptr<storage::Database> db;
    usage::WriterOptions options;
};
/// A fresh SQLite database in a temporary directory, and writer options spooling beside it.
Opened Open() {
    Opened o;
    o.dir = TempDir();
    o.db = storage::OpenSqlite(o.dir + "/clove.db");
    storage::Migrate(*o.db);
    o.options.spool_path = o.dir + "/spool.jsonl";
    return o;
}
int64_t Count(storage::Database& db) {
    return db.Read([](storage::Session& s) { return s.Query("SELECT COUNT(*), SUM(input_tokens) FROM usage", {}).at(0).Int(0); });
}
}  // namespace

TEST(UsageWriter, StopFlushesEveryRecordInBatches) {
    [[maybe_unused]] auto [dir, db, o] = Open();
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

TEST(UsageWriter, QueuedTextsArriveIntactAcrossBatchesWhileWorkersPush) {
    [[maybe_unused]] auto [dir, db, o] = Open();
    o.batch_rows = 7;  // many batches, taken in pieces from one swapped-out queue
    o.batch_interval = std::chrono::milliseconds(5);
    usage::UsageWriter w(*db, o);
    w.Start();
    auto make = [](int i) {
        usage::UsageRecord r = Rec(i);
        r.key_id = i % 3 ? "key_" + std::to_string(i % 3) : "";
        r.upstream_id = "up_" + std::string(static_cast<size_t>(i % 5), 'u');
        r.credential_id = i % 2 ? "cred_x" : "";
        r.model = "claude-" + std::string(static_cast<size_t>(i % 97) * 11, 'm') + "-caf\xc3\xa9";
        r.upstream_model = i % 4 ? r.model : "mapped-" + std::to_string(i);
        r.error_type = i % 6 ? "" : "overloaded_error";
        r.status = i % 6 ? 200 : 529;
        return r;
    };
    // Two threads push while the writer drains.
    std::thread other([&] {
        for (int i = 1000; i < 1500; ++i) {
            w.Push(usage::UsageRecordView(make(i)));
        }
    });
    for (int i = 0; i < 500; ++i) {
        w.Push(make(i));
    }
    other.join();
    w.Stop();
    EXPECT_EQ(w.queue_depth(), 0u);
    auto rows = db->Read([](storage::Session& s) {
        return s.Query("SELECT request_id, key_id, upstream_id, credential_id, model, upstream_model, error_type, "
                       "status, input_tokens FROM usage",
                       {});
    });
    ASSERT_EQ(rows.size(), 1000u);
    for (const auto& row : rows) {
        const int i = static_cast<int>(row.Int(8));
        const auto want = make(i);
        EXPECT_EQ(row.Text(0), want.request_id);
        EXPECT_EQ(row.Text(1), want.key_id) << i;
        EXPECT_EQ(row.Text(2), want.upstream_id) << i;
        EXPECT_EQ(row.Text(3), want.credential_id) << i;
        EXPECT_EQ(row.Text(4), want.model) << i;
        EXPECT_EQ(row.Text(5), want.upstream_model) << i;
        EXPECT_EQ(row.Text(6), want.error_type) << i;
        EXPECT_EQ(row.Int(7), want.status) << i;
    }
}

TEST(UsageWriter, FullQueueSpillsToTheSpoolAndTheSpoolIsReplayed) {
    [[maybe_unused]] auto [dir, db, o] = Open();
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
