#pragma once

// Prometheus metrics. Each worker owns a Cell (plain counters behind an uncontended mutex that
// only the scraper also takes); a scrape sums the cells. Label sets are bounded: models that no
// upstream serves are reported as "other", and a cell keeps at most kMaxSeries series.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace clove::metrics {

inline constexpr std::array<double, 15> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                    2.5,   5,    10,    30,    60,  120, 300};

struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};
    uint64_t count = 0;
    double sum = 0;
    void Observe(double seconds);
    void Merge(const Histogram& o);
};

/// What one finished request contributes.
struct RequestSample {
    std::string_view route;     ///< "/v1/messages", "/v1/messages/count_tokens", "/v1/models", "other"
    std::string_view model;     ///< "" when none
    std::string_view upstream;  ///< upstream name, "" when none
    int status = 0;
    std::string_view error_type;  ///< "" on success
    double ttfb_s = -1;
    double duration_s = 0;
    int64_t input_tokens = 0, output_tokens = 0, cache_creation_tokens = 0, cache_read_tokens = 0;
    int64_t cost_nanousd = 0;
};

class Registry;

class Cell {
public:
    using SeriesKey = std::tuple<std::string, std::string, std::string, int>;
    void Record(const RequestSample& s);

private:
    friend class Registry;
    /// route \x1f model \x1f upstream \x1f status, looked up without allocating.
    struct KeyHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    std::mutex mutex_;
    std::unordered_map<std::string, uint64_t, KeyHash, std::equal_to<>> requests_;
    std::unordered_map<std::string, uint64_t, KeyHash, std::equal_to<>> errors_;
    std::string scratch_;
    Histogram ttfb_, duration_;
    int64_t tokens_[4] = {0, 0, 0, 0};
    int64_t cost_nanousd_ = 0;
};

/// Gauges the scraper reads from elsewhere at scrape time.
struct Gauges {
    int64_t in_flight = 0;
    int64_t usage_queue_depth = 0;
    int64_t usage_spooled = 0;
    int64_t usage_written = 0;
    Histogram usage_batch;  ///< commit time of usage batches
    std::map<std::string, int64_t> credentials;  ///< state -> count
    std::string extra;  ///< more series in exposition format, appended as they are
};

class Registry {
public:
    static constexpr size_t kMaxSeries = 5000;
    /// A new cell for a worker; lives as long as the registry.
    Cell& NewCell();
    /// Prometheus text format 0.0.4.
    std::string Render(const Gauges& g) const;

private:
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<Cell>> cells_;
};

}  // namespace clove::metrics
