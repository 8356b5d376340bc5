#include "clove/metrics/metrics.hpp"

#include <fmt/format.h>

namespace clove::metrics {

namespace {

std::string Escape(const std::string& v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

void RenderHistogram(std::string& out, const char* name, const char* help, const Histogram& h) {
    out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
        cum += h.counts[i];
        out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, kBuckets[i], cum);
    }
    out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, h.count, name, h.sum, name,
                       h.count);
}

}  // namespace

void Histogram::Observe(double seconds) {
    for (size_t i = 0; i < kBuckets.size(); ++i) {
        if (seconds <= kBuckets[i]) {
            ++counts[i];
            break;
        }
    }
    ++count;
    sum += seconds;
}

void Histogram::Merge(const Histogram& o) {
    for (size_t i = 0; i < kBuckets.size(); ++i) {
        counts[i] += o.counts[i];
    }
    count += o.count;
    sum += o.sum;
}

namespace {
void AppendKey(std::string& out, std::string_view route, std::string_view model, std::string_view upstream,
               int status) {
    out.clear();
    out.append(route).append(1, '\x1f').append(model).append(1, '\x1f').append(upstream).append(1, '\x1f');
    out.append(std::to_string(status));
}

Cell::SeriesKey SplitKey(const std::string& k) {
    size_t a = k.find('\x1f'), b = k.find('\x1f', a + 1), c = k.find('\x1f', b + 1);
    return {k.substr(0, a), k.substr(a + 1, b - a - 1), k.substr(b + 1, c - b - 1), std::stoi(k.substr(c + 1))};
}
}  // namespace

void Cell::Record(const RequestSample& s) {
    std::lock_guard lock(mutex_);
    AppendKey(scratch_, s.route, s.model, s.upstream, s.status);
    auto it = requests_.find(std::string_view(scratch_));
    if (it != requests_.end()) {
        ++it->second;
    } else if (requests_.size() < Registry::kMaxSeries) {
        requests_.emplace(scratch_, 1);
    } else {
        AppendKey(scratch_, s.route, "other", "other", s.status);
        ++requests_[scratch_];
    }
    if (!s.error_type.empty()) {
        auto e = errors_.find(s.error_type);
        if (e != errors_.end()) {
            ++e->second;
        } else {
            errors_.emplace(std::string(s.error_type), 1);
        }
    }
    if (s.ttfb_s >= 0) {
        ttfb_.Observe(s.ttfb_s);
    }
    duration_.Observe(s.duration_s);
    tokens_[0] += s.input_tokens;
    tokens_[1] += s.output_tokens;
    tokens_[2] += s.cache_creation_tokens;
    tokens_[3] += s.cache_read_tokens;
    cost_nanousd_ += s.cost_nanousd;
}

Cell& Registry::NewCell() {
    std::lock_guard lock(mutex_);
    cells_.push_back(std::make_unique<Cell>());
    return *cells_.back();
}

std::string Registry::Render(const Gauges& g) const {
    std::map<Cell::SeriesKey, uint64_t> requests;  // sorted for a stable scrape
    std::map<std::string, uint64_t> errors;
    Histogram ttfb, duration;
    int64_t tokens[4] = {0, 0, 0, 0};
    int64_t cost = 0;
    {
        std::lock_guard lock(mutex_);
        for (const auto& c : cells_) {
            std::lock_guard cl(c->mutex_);
            for (const auto& [k, v] : c->requests_) {
                requests[SplitKey(k)] += v;
            }
            for (const auto& [k, v] : c->errors_) {
                errors[k] += v;
            }
            ttfb.Merge(c->ttfb_);
            duration.Merge(c->duration_);
            for (int i = 0; i < 4; ++i) {
                tokens[i] += c->tokens_[i];
            }
            cost += c->cost_nanousd_;
        }
    }
    std::string out;
    out += "# HELP clove_requests_total Requests answered, by route, model, upstream and status.\n"
           "# TYPE clove_requests_total counter\n";
    for (const auto& [k, v] : requests) {
        const auto& [route, model, upstream, status] = k;
        out += fmt::format("clove_requests_total{{route=\"{}\",model=\"{}\",upstream=\"{}\",status=\"{}\"}} {}\n",
                           Escape(route), Escape(model), Escape(upstream), status, v);
    }
    out += "# HELP clove_request_errors_total Failed requests by error type.\n"
           "# TYPE clove_request_errors_total counter\n";
    for (const auto& [k, v] : errors) {
        out += fmt::format("clove_request_errors_total{{type=\"{}\"}} {}\n", Escape(k), v);
    }
    RenderHistogram(out, "clove_ttfb_seconds", "Time from request start to the first upstream byte.", ttfb);
    RenderHistogram(out, "clove_request_duration_seconds", "Time from request start to the end of the response.",
                    duration);
    out += "# HELP clove_tokens_total Tokens reported by upstreams.\n# TYPE clove_tokens_total counter\n";
    const char* types[] = {"input", "output", "cache_creation", "cache_read"};
    for (int i = 0; i < 4; ++i) {
        out += fmt::format("clove_tokens_total{{type=\"{}\"}} {}\n", types[i], tokens[i]);
    }
    out += fmt::format("# HELP clove_cost_usd_total Cost of the requests at the configured prices.\n"
                       "# TYPE clove_cost_usd_total counter\nclove_cost_usd_total {:.9f}\n",
                       static_cast<double>(cost) / 1e9);
    out += fmt::format("# HELP clove_in_flight_requests Requests being answered.\n"
                       "# TYPE clove_in_flight_requests gauge\nclove_in_flight_requests {}\n",
                       g.in_flight);
    out += fmt::format("# HELP clove_usage_queue_depth Usage records waiting for the writer.\n"
                       "# TYPE clove_usage_queue_depth gauge\nclove_usage_queue_depth {}\n",
                       g.usage_queue_depth);
    out += fmt::format("# HELP clove_usage_spooled_records Usage records spooled to disk, waiting for the database.\n"
                       "# TYPE clove_usage_spooled_records gauge\nclove_usage_spooled_records {}\n",
                       g.usage_spooled);
    out += fmt::format("# HELP clove_usage_written_total Usage records committed to the database.\n"
                       "# TYPE clove_usage_written_total counter\nclove_usage_written_total {}\n",
                       g.usage_written);
    RenderHistogram(out, "clove_usage_batch_seconds", "Time to commit one batch of usage records.", g.usage_batch);
    out += "# HELP clove_credentials Upstream credentials by state.\n# TYPE clove_credentials gauge\n";
    for (const auto& [state, n] : g.credentials) {
        out += fmt::format("clove_credentials{{state=\"{}\"}} {}\n", Escape(state), n);
    }
    out += g.extra;
    return out;
}

}  // namespace clove::metrics
