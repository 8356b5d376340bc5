// How fast the usage queries the admin UI needs are on a large usage table (default 1,000,000
// rows; CLOVE_BENCH_USAGE_ROWS to change). Rows are written through the real usage path
// (storage::InsertUsage: row + hourly rollup + last_used_at), spread over 30 days, 50 keys,
// 5 upstreams, 8 models, 3 % errors. Then each query is timed with Google Benchmark.
//
//   build/release/bench/clove_bench_usage [--benchmark_min_time=0.2]

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "clove/auth/secrets.hpp"
#include "clove/storage/db.hpp"
#include "clove/storage/repository.hpp"

using namespace clove;

namespace {

storage::Database* g_db = nullptr;
int64_t g_now = 0;

void Populate(storage::Database& db, int64_t rows) {
    std::mt19937_64 rng(42);
    const char* models[] = {"claude-sonnet-4-5", "claude-opus-4-8", "claude-haiku-4-5", "claude-sonnet-4-6",
                            "claude-opus-4-6",   "claude-opus-4-5", "claude-3-5-haiku",  "claude-opus-4-1"};
    const int64_t span = 30LL * 86'400'000;
    auto t0 = std::chrono::steady_clock::now();
    std::vector<usage::UsageRecord> batch;
    for (int64_t i = 0; i < rows; ++i) {
        usage::UsageRecord r;
        r.request_id = "req_bench_" + std::to_string(i);
        r.ts_ms = g_now - span + span * i / rows;
        r.key_id = "key_" + std::to_string(rng() % 50);
        r.upstream_id = "up_" + std::to_string(rng() % 5);
        r.credential_id = "cred_" + std::to_string(rng() % 20);
        r.model = models[rng() % 8];
        r.upstream_model = r.model;
        r.status = (rng() % 100) < 3 ? 429 : 200;
        r.error_type = r.status == 200 ? "" : "rate_limit_error";
        r.stream = rng() % 2;
        r.ttfb_ms = 300;
        r.duration_ms = 2000;
        r.input_tokens = static_cast<int64_t>(rng() % 5000);
        r.output_tokens = static_cast<int64_t>(rng() % 800);
        r.cache_read_tokens = static_cast<int64_t>(rng() % 20000);
        r.cost_nanousd = r.input_tokens * 3000 + r.output_tokens * 15000 + r.cache_read_tokens * 300;
        batch.push_back(std::move(r));
        if (batch.size() == 500 || i + 1 == rows) {
            db.WriteUsage([&](storage::Session& s) { storage::InsertUsage(s, batch); });
            batch.clear();
        }
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "populated %lld rows in %.1f s (%.0f rows/s through InsertUsage)\n",
                 static_cast<long long>(rows), secs, static_cast<double>(rows) / secs);
}

void BM_RequestLogNewest(benchmark::State& st) {
    storage::UsageFilter f;
    f.limit = 50;
    for (auto _ : st) {
        benchmark::DoNotOptimize(g_db->Read([&](storage::Session& s) { return storage::QueryUsage(s, f); }));
    }
}
void BM_RequestLogByKey(benchmark::State& st) {
    storage::UsageFilter f;
    f.key_id = "key_7";
    f.limit = 50;
    for (auto _ : st) {
        benchmark::DoNotOptimize(g_db->Read([&](storage::Session& s) { return storage::QueryUsage(s, f); }));
    }
}
void BM_RequestLogErrorsPage20(benchmark::State& st) {
    // Errors only, 20 pages deep through the cursor: the worst page a user clicks to.
    for (auto _ : st) {
        storage::UsageFilter f;
        f.status_range = {400, 999};
        f.limit = 50;
        for (int page = 0; page < 20; ++page) {
            auto rows = g_db->Read([&](storage::Session& s) { return storage::QueryUsage(s, f); });
            if (rows.empty()) break;
            f.before_id = rows.back().id;
        }
    }
}
void BM_RequestLogModelLastDay(benchmark::State& st) {
    storage::UsageFilter f;
    f.model = "claude-opus-4-8";
    f.from_ms = g_now - 86'400'000;
    f.limit = 50;
    for (auto _ : st) {
        benchmark::DoNotOptimize(g_db->Read([&](storage::Session& s) { return storage::QueryUsage(s, f); }));
    }
}
void BM_Summary(benchmark::State& st, const char* group, int64_t range_ms) {
    for (auto _ : st) {
        benchmark::DoNotOptimize(g_db->Read(
            [&](storage::Session& s) { return storage::SummarizeUsage(s, group, g_now - range_ms, g_now); }));
    }
}
void BM_KeyTotals(benchmark::State& st) {
    for (auto _ : st) {
        benchmark::DoNotOptimize(g_db->Read([](storage::Session& s) { return storage::KeyTotals(s); }));
    }
}

}  // namespace

int main(int argc, char** argv) {
    int64_t rows = 1'000'000;
    if (const char* v = std::getenv("CLOVE_BENCH_USAGE_ROWS")) {
        rows = std::atoll(v);
    }
    auto dir = std::filesystem::temp_directory_path() / ("clove-bench-usage-" + auth::GenerateId(""));
    std::filesystem::create_directories(dir);
    auto db = storage::OpenSqlite((dir / "clove.db").string());
    storage::Migrate(*db);
    if (const char* drop = std::getenv("CLOVE_BENCH_DROP_INDEXES")) {  // experiments: cost per index
        std::string list = drop;
        for (size_t start = 0; start < list.size();) {
            size_t comma = list.find(',', start);
            if (comma == std::string::npos) comma = list.size();
            std::string name = list.substr(start, comma - start);
            db->Write([&](storage::Session& s) { s.ExecScript("DROP INDEX IF EXISTS " + name); });
            start = comma + 1;
        }
    }
    g_db = db.get();
    g_now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
    Populate(*db, rows);
    std::fprintf(stderr, "database file: %.1f MiB for %lld rows\n",
                 static_cast<double>(std::filesystem::file_size(dir / "clove.db")) / (1 << 20),
                 static_cast<long long>(rows));
    benchmark::RegisterBenchmark("request_log/newest_50", BM_RequestLogNewest);
    benchmark::RegisterBenchmark("request_log/by_key_50", BM_RequestLogByKey);
    benchmark::RegisterBenchmark("request_log/model_last_day_50", BM_RequestLogModelLastDay);
    benchmark::RegisterBenchmark("request_log/errors_20_pages", BM_RequestLogErrorsPage20);
    benchmark::RegisterBenchmark("summary/by_key_24h", BM_Summary, "key", 86'400'000LL);
    benchmark::RegisterBenchmark("summary/by_model_7d", BM_Summary, "model", 7 * 86'400'000LL);
    benchmark::RegisterBenchmark("summary/by_hour_24h", BM_Summary, "hour", 86'400'000LL);
    benchmark::RegisterBenchmark("summary/by_day_30d", BM_Summary, "day", 30 * 86'400'000LL);
    benchmark::RegisterBenchmark("key_totals/all_time", BM_KeyTotals);
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    db.reset();
    std::filesystem::remove_all(dir);
    return 0;
}
