#pragma once

// The usage writer: workers push one record per request onto a bounded queue; one thread drains
// it into the database in batches (<= 500 rows or <= 200 ms, one transaction each). Records
// leave memory only after their batch committed. When the database fails, batches go to an
// append-only spool file (fsync'd) that is replayed once the database answers again; a replay
// is idempotent (request_id is unique). When the queue is full, Push spills to the same spool
// instead of dropping. Stop() flushes everything.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "clove/metrics/metrics.hpp"
#include "clove/storage/db.hpp"
#include "clove/usage/record.hpp"

namespace clove::usage {

struct WriterOptions {
    size_t capacity = 100'000;
    size_t batch_rows = 500;
    std::chrono::milliseconds batch_interval{200};
    std::chrono::milliseconds retry_interval{1000};
    std::string spool_path;  ///< e.g. <data_dir>/usage-spool.jsonl
    /// Days of records to keep (read on each prune, hourly); <= 0 keeps everything.
    std::function<int()> retention_days;
};

class UsageWriter {
public:
    UsageWriter(storage::Database& db, WriterOptions options);
    ~UsageWriter();
    UsageWriter(const UsageWriter&) = delete;
    UsageWriter& operator=(const UsageWriter&) = delete;

    void Start();
    /// Never blocks on the database and never drops: a full queue spills to the spool. The
    /// texts are copied into the queue's own buffer.
    void Push(const UsageRecordView& record);
    void Push(const UsageRecord& record) { Push(UsageRecordView(record)); }
    /// Writes everything queued (and, if the database answers, the spool), then stops the thread.
    void Stop();

    size_t queue_depth() const;
    uint64_t written() const { return written_.load(std::memory_order_relaxed); }
    uint64_t spooled() const { return spooled_pending_.load(std::memory_order_relaxed); }
    /// Milliseconds the last batch took to commit (for metrics).
    double last_batch_ms() const { return last_batch_ms_.load(std::memory_order_relaxed); }
    /// Commit times of every batch written so far.
    metrics::Histogram batch_latency() const {
        std::lock_guard lock(hist_mutex_);
        return batch_hist_;
    }

    /// One record as a spool line (JSON) and back; exposed for tests.
    static std::string ToLine(const UsageRecord& r);
    static bool FromLine(std::string_view line, UsageRecord& r);

private:
    void Run();
    bool WriteBatch(std::span<const UsageRecord> batch);
    void AppendToSpool(std::span<const UsageRecord> batch);
    bool ReplaySpool();
    void MaybePrune();

    storage::Database& db_;
    WriterOptions options_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    /// A queued record: its numbers, and its texts as lengths of consecutive runs in a text
    /// buffer. Workers append to queue_/text_; the writer swaps both out whole (taken_) and
    /// turns them into UsageRecords batch by batch.
    struct Queued {
        UsageCounts counts;
        size_t text_offset = 0;
        std::array<uint32_t, 7> lengths{};
    };
    /// Fills `rec` from a queued record; `rec`'s strings keep their capacity (no allocation once
    /// the writer's batch records have grown).
    static void UnpackInto(const Queued& q, const std::string& text, UsageRecord& rec);
    std::vector<Queued> queue_;
    std::string text_;
    std::vector<Queued> taken_;    // writer thread only
    std::string taken_text_;       // writer thread only
    size_t taken_pos_ = 0;         // writer thread only
    size_t taken_left_ = 0;        // under mutex_: taken records not yet handed to a batch
    bool stopping_ = false;
    std::thread thread_;
    std::mutex spool_mutex_;
    std::atomic<uint64_t> written_{0};
    std::atomic<uint64_t> spooled_pending_{0};
    std::atomic<double> last_batch_ms_{0};
    mutable std::mutex hist_mutex_;
    metrics::Histogram batch_hist_;
    bool db_down_ = false;
    std::chrono::steady_clock::time_point next_retry_{};
    std::chrono::steady_clock::time_point next_prune_{};
    std::chrono::steady_clock::time_point next_maintain_{};
};

}  // namespace clove::usage
