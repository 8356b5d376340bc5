#include "clove/usage/writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <cstdio>
#include <fstream>

#include "clove/base/log.hpp"
#include "clove/storage/repository.hpp"

namespace clove::usage {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

UsageWriter::UsageWriter(storage::Database& db, WriterOptions options) : db_(db), options_(std::move(options)) {
    // Records spooled by an earlier run are counted so status shows them until replayed.
    std::ifstream in(options_.spool_path);
    std::string line;
    uint64_t n = 0;
    while (std::getline(in, line)) {
        n += line.empty() ? 0 : 1;
    }
    spooled_pending_ = n;
}

UsageWriter::~UsageWriter() { Stop(); }

void UsageWriter::Start() {
    next_prune_ = Clock::now() + std::chrono::seconds(30);
    thread_ = std::thread([this] { Run(); });
}

namespace {

/// A record's texts, in the order the queue stores them.
std::array<std::string*, 7> TextFields(UsageRecord& r) {
    return {&r.request_id, &r.key_id, &r.upstream_id, &r.credential_id, &r.model, &r.upstream_model, &r.error_type};
}

}  // namespace

void UsageWriter::Push(const UsageRecordView& r) {
    const std::array<std::string_view, 7> texts{r.request_id, r.key_id,         r.upstream_id, r.credential_id,
                                                r.model,      r.upstream_model, r.error_type};
    {
        std::lock_guard lock(mutex_);
        if (queue_.size() + taken_left_ < options_.capacity) {
            Queued q;
            q.counts = r;
            q.text_offset = text_.size();
            for (size_t i = 0; i < texts.size(); ++i) {
                q.lengths[i] = static_cast<uint32_t>(texts[i].size());
                text_.append(texts[i]);
            }
            queue_.push_back(q);
            if (queue_.size() >= options_.batch_rows) {
                cv_.notify_one();
            }
            return;
        }
    }
    // Backpressure without loss: the writer is behind, so this record goes to disk directly.
    UsageRecord rec;
    static_cast<UsageCounts&>(rec) = r;
    const auto fields = TextFields(rec);
    for (size_t i = 0; i < texts.size(); ++i) {
        fields[i]->assign(texts[i]);
    }
    AppendToSpool({&rec, 1});
}

void UsageWriter::UnpackInto(const Queued& q, const std::string& text, UsageRecord& rec) {
    static_cast<UsageCounts&>(rec) = q.counts;
    const auto fields = TextFields(rec);
    size_t off = q.text_offset;
    for (size_t i = 0; i < q.lengths.size(); ++i) {
        fields[i]->assign(text, off, q.lengths[i]);
        off += q.lengths[i];
    }
}

size_t UsageWriter::queue_depth() const {
    std::lock_guard lock(mutex_);
    return queue_.size() + taken_left_;
}

void UsageWriter::Stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && !thread_.joinable()) {
            return;
        }
        stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void UsageWriter::Run() {
    // The writer runs at the workers' priority. It ran at nice 10 before: under saturating load
    // on two cores (row 12: load generator, fake upstream and Clove) a nice-10 thread gets ~5 % of
    // a core, so a commit of ~2 ms CPU took 25-100 ms of wall time and failed the 50 ms pass line,
    // while at one connection the nice level made no measurable difference (p99 1.6-1.8 ms at
    // nice 10, 5 and 0 alike; p50 unchanged).
    std::vector<UsageRecord> records;
    for (;;) {
        bool stopping;
        {
            std::unique_lock lock(mutex_);
            if (taken_pos_ == taken_.size()) {
                cv_.wait_for(lock, options_.batch_interval,
                             [&] { return stopping_ || queue_.size() >= options_.batch_rows; });
                // Everything queued moves to this thread at once (two swaps); the workers go on
                // filling the emptied buffers, which keep their capacity.
                taken_.clear();
                taken_text_.clear();
                taken_pos_ = 0;
                std::swap(taken_, queue_);
                std::swap(taken_text_, text_);
                taken_left_ = taken_.size();
            }
            stopping = stopping_;
        }
        // A batch leaves taken_ here and lives in `records` until it is committed or, when the
        // database fails, written to the spool. The records are reused from batch to batch:
        // assigning a text into a string that has the capacity allocates nothing (unpacking into
        // fresh records was seven allocations and frees per row).
        const size_t n = std::min(taken_.size() - taken_pos_, options_.batch_rows);
        if (records.size() < n) {
            records.resize(n);
        }
        for (size_t i = 0; i < n; ++i) {
            UnpackInto(taken_[taken_pos_ + i], taken_text_, records[i]);
        }
        taken_pos_ += n;
        {
            std::lock_guard lock(mutex_);
            taken_left_ = taken_.size() - taken_pos_;
        }
        if (n > 0) {
            const std::span<const UsageRecord> batch(records.data(), n);
            if (!WriteBatch(batch)) {
                AppendToSpool(batch);
            }
        }
        if (taken_pos_ == taken_.size() && taken_text_.capacity() > (4u << 20)) {
            // After a backlog: do not keep its buffers for ever.
            taken_ = {};
            taken_text_ = {};
            taken_pos_ = 0;
            records = {};  // written above
        }
        if (spooled_pending_.load() > 0 && Clock::now() >= next_retry_) {
            ReplaySpool();
        }
        MaybePrune();
        if (stopping) {
            std::lock_guard lock(mutex_);
            if (queue_.empty() && taken_pos_ == taken_.size()) {
                break;
            }
        }
    }
    if (spooled_pending_.load() > 0) {
        ReplaySpool();
    }
    log::info("usage writer stopped: {} records written{}", written_.load(),
              spooled_pending_.load() ? fmt::format(", {} spooled for the next start", spooled_pending_.load()) : "");
}

bool UsageWriter::WriteBatch(std::span<const UsageRecord> batch) {
    if (db_down_ && Clock::now() < next_retry_) {
        return false;
    }
    auto t0 = Clock::now();
    try {
        db_.WriteUsage([&](storage::Session& s) { storage::InsertUsage(s, batch); });
        written_ += batch.size();
        const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        last_batch_ms_ = secs * 1000;
        {
            std::lock_guard lock(hist_mutex_);
            batch_hist_.Observe(secs);
        }
        if (db_down_) {
            log::info("usage writer: database reachable again");
        }
        db_down_ = false;
        return true;
    } catch (const std::exception& e) {
        if (!db_down_) {
            log::warn("usage writer: cannot write {} records ({}); spooling to {}", batch.size(), e.what(),
                      options_.spool_path);
        }
        db_down_ = true;
        next_retry_ = Clock::now() + options_.retry_interval;
        return false;
    }
}

void UsageWriter::AppendToSpool(std::span<const UsageRecord> batch) {
    std::string out;
    for (const auto& r : batch) {
        out += ToLine(r);
        out += '\n';
    }
    std::lock_guard lock(spool_mutex_);
    int fd = ::open(options_.spool_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        log::error("usage writer: cannot open spool {}: {} records lost", options_.spool_path, batch.size());
        return;
    }
    size_t off = 0;
    while (off < out.size()) {
        ssize_t w = ::write(fd, out.data() + off, out.size() - off);
        if (w <= 0) {
            break;
        }
        off += static_cast<size_t>(w);
    }
    ::fdatasync(fd);
    ::close(fd);
    spooled_pending_ += batch.size();
}

bool UsageWriter::ReplaySpool() {
    std::lock_guard lock(spool_mutex_);
    std::ifstream in(options_.spool_path);
    if (!in) {
        spooled_pending_ = 0;
        return true;
    }
    std::vector<UsageRecord> batch;
    std::string line;
    size_t replayed = 0;
    auto flush = [&]() -> bool {
        if (batch.empty()) {
            return true;
        }
        try {
            db_.WriteUsage([&](storage::Session& s) { storage::InsertUsage(s, batch, /*replay=*/true); });
        } catch (const std::exception& e) {
            db_down_ = true;
            next_retry_ = Clock::now() + options_.retry_interval;
            return false;
        }
        written_ += batch.size();
        replayed += batch.size();
        batch.clear();
        return true;
    };
    while (std::getline(in, line)) {
        if (line.empty()) {
            continue;
        }
        UsageRecord r;
        if (!FromLine(line, r)) {
            log::error("usage writer: unreadable spool line skipped");
            continue;
        }
        batch.push_back(std::move(r));
        if (batch.size() >= options_.batch_rows && !flush()) {
            return false;  // still down: keep the whole spool; replay is idempotent
        }
    }
    if (!flush()) {
        return false;
    }
    in.close();
    ::unlink(options_.spool_path.c_str());
    spooled_pending_ = 0;
    db_down_ = false;
    log::info("usage writer: replayed {} spooled records", replayed);
    return true;
}

void UsageWriter::MaybePrune() {
    if (Clock::now() >= next_maintain_ && !db_down_) {
        next_maintain_ = Clock::now() + std::chrono::seconds(10);
        try {
            if (auto what = db_.Maintain(); !what.empty()) {
                log::info("database maintenance: {}", what);
            }
        } catch (const std::exception& e) {
            log::warn("database maintenance failed: {}", e.what());
        }
    }
    if (!options_.retention_days || Clock::now() < next_prune_ || db_down_) {
        return;
    }
    next_prune_ = Clock::now() + std::chrono::hours(1);
    int days = options_.retention_days();
    if (days <= 0) {
        return;
    }
    const int64_t cutoff = storage::NowMs() - int64_t{days} * 86'400'000;
    try {
        int64_t total = 0;
        for (;;) {  // short transactions: 5,000 rows at a time
            int64_t n = db_.WriteUsage([&](storage::Session& s) { return storage::PruneUsage(s, cutoff, 5000); });
            total += n;
            if (n < 5000) {
                break;
            }
        }
        if (total > 0) {
            log::info("usage retention: pruned {} records older than {} days", total, days);
        }
    } catch (const std::exception& e) {
        log::warn("usage retention: prune failed: {}", e.what());
    }
}

std::string UsageWriter::ToLine(const UsageRecord& r) {
    json::object o;
    o["request_id"] = r.request_id;
    o["ts"] = r.ts_ms;
    o["key_id"] = r.key_id;
    o["upstream_id"] = r.upstream_id;
    o["credential_id"] = r.credential_id;
    o["model"] = r.model;
    o["upstream_model"] = r.upstream_model;
    o["status"] = r.status;
    o["error_type"] = r.error_type;
    o["stream"] = r.stream;
    o["ttfb_ms"] = r.ttfb_ms;
    o["duration_ms"] = r.duration_ms;
    o["in"] = r.input_tokens;
    o["out"] = r.output_tokens;
    o["cc"] = r.cache_creation_tokens;
    o["cc5"] = r.cache_creation_5m_tokens;
    o["cc1"] = r.cache_creation_1h_tokens;
    o["cr"] = r.cache_read_tokens;
    o["cost"] = r.cost_nanousd;
    return json::serialize(o);
}

bool UsageWriter::FromLine(std::string_view line, UsageRecord& r) {
    boost::system::error_code ec;
    auto v = json::parse(line, ec);
    if (ec || !v.is_object()) {
        return false;
    }
    const auto& o = v.as_object();
    auto str = [&](const char* k) -> std::string {
        auto* p = o.if_contains(k);
        return p && p->is_string() ? std::string(p->as_string()) : std::string();
    };
    auto num = [&](const char* k) -> int64_t {
        auto* p = o.if_contains(k);
        return p && p->is_number() ? p->to_number<int64_t>() : 0;
    };
    auto real = [&](const char* k) -> double {
        auto* p = o.if_contains(k);
        return p && p->is_number() ? p->to_number<double>() : 0;
    };
    r.request_id = str("request_id");
    if (r.request_id.empty()) {
        return false;
    }
    r.ts_ms = num("ts");
    r.key_id = str("key_id");
    r.upstream_id = str("upstream_id");
    r.credential_id = str("credential_id");
    r.model = str("model");
    r.upstream_model = str("upstream_model");
    r.status = static_cast<int>(num("status"));
    r.error_type = str("error_type");
    auto* s = o.if_contains("stream");
    r.stream = s && s->is_bool() && s->as_bool();
    r.ttfb_ms = real("ttfb_ms");
    r.duration_ms = real("duration_ms");
    r.input_tokens = num("in");
    r.output_tokens = num("out");
    r.cache_creation_tokens = num("cc");
    r.cache_creation_5m_tokens = num("cc5");
    r.cache_creation_1h_tokens = num("cc1");
    r.cache_read_tokens = num("cr");
    r.cost_nanousd = num("cost");
    return true;
}

}  // namespace clove::usage
