#include "clove/api/usage.hpp"

#include <cstdint>
#include <cstring>
#include <initializer_list>

namespace clove::api {

namespace {

/// A forward-only reader over one JSON text that finds members by key and skips everything else
/// without building anything: the usage tap runs on every response, and a response is mostly
/// content the gateway forwards untouched (a skipped string costs one memchr per quote). It reads
/// only as much structure as the way to `usage` needs; bytes it never reaches are not checked.
/// Every step is bounds-checked, and malformed input makes it stop with false.
class JsonWalker {
public:
    explicit JsonWalker(std::string_view json) : p_(json.data()), end_(json.data() + json.size()) {}

    /// At an object: moves to the value of its first member named `key` (a key with escapes
    /// never matches). False when the object has none or is malformed.
    bool EnterMember(std::string_view key) {
        return Members([&](std::string_view k, JsonWalker& v) {
                   return k == key ? Step::kStop : v.SkipValue() ? Step::kNext : Step::kFail;
               }) == Step::kStop;
    }

    /// At an object: calls fn(key, *this) at each member's value; fn must consume the value
    /// (Int, SkipValue or a nested ForEachMember) and return false when it is malformed.
    template <typename Fn>
    bool ForEachMember(Fn&& fn) {
        return Members([&](std::string_view k, JsonWalker& v) { return fn(k, v) ? Step::kNext : Step::kFail; }) ==
               Step::kNext;
    }

    bool AtObject() const { return p_ < end_ && *p_ == '{'; }

    /// An integer value: stored in `out` when it is one that fits int64 (as simdjson's
    /// get_int64 would), skipped otherwise (null, fractions, strings...).
    bool Int(int64_t& out) {
        const char* q = p_;
        const bool neg = q < end_ && *q == '-';
        q += neg ? 1 : 0;
        const char* digits = q;
        uint64_t v = 0;
        bool overflow = false;
        while (q < end_ && *q >= '0' && *q <= '9') {
            const auto d = static_cast<uint64_t>(*q - '0');
            overflow = overflow || v > (UINT64_MAX - d) / 10;
            v = v * 10 + d;
            ++q;
        }
        const bool is_int = q > digits && (q - digits == 1 || *digits != '0') &&
                            (q == end_ || (*q != '.' && *q != 'e' && *q != 'E')) && !overflow &&
                            v <= (neg ? uint64_t{1} << 63 : uint64_t{INT64_MAX});
        if (!is_int) {
            return SkipValue();
        }
        out = neg ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
        p_ = q;
        return true;
    }

    /// Skips one value of any kind, nested containers included.
    bool SkipValue() {
        if (p_ >= end_) {
            return false;
        }
        if (*p_ == '"') {
            return SkipString();
        }
        if (*p_ == '{' || *p_ == '[') {
            size_t depth = 0;
            while (p_ < end_) {
                const char c = *p_;
                if (c == '"') {
                    if (!SkipString()) {
                        return false;
                    }
                    continue;
                }
                ++p_;
                if (c == '{' || c == '[') {
                    ++depth;
                } else if ((c == '}' || c == ']') && --depth == 0) {
                    return true;
                }
            }
            return false;
        }
        // A scalar: runs to the next delimiter.
        const char* start = p_;
        while (p_ < end_ && *p_ != ',' && *p_ != '}' && *p_ != ']' && *p_ != ' ' && *p_ != '\n' && *p_ != '\r' &&
               *p_ != '\t') {
            ++p_;
        }
        return p_ > start;
    }

private:
    enum class Step { kNext, kStop, kFail };

    /// The member loop of an object: `step(key, *this)` at each value. kNext when the object
    /// ended, kStop when step stopped at a value, kFail when malformed.
    template <typename StepFn>
    Step Members(StepFn&& step) {
        if (!Consume('{')) {
            return Step::kFail;
        }
        Space();
        if (Consume('}')) {
            return Step::kNext;
        }
        for (;;) {
            std::string_view k;
            if (!Key(k)) {
                return Step::kFail;
            }
            if (const Step s = step(k, *this); s != Step::kNext) {
                return s;
            }
            Space();
            if (Consume('}')) {
                return Step::kNext;
            }
            if (!Consume(',')) {
                return Step::kFail;
            }
            Space();
        }
    }

    void Space() {
        while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) {
            ++p_;
        }
    }
    bool Consume(char c) {
        if (p_ < end_ && *p_ == c) {
            ++p_;
            return true;
        }
        return false;
    }
    /// A string: the closing quote is the first one preceded by an even run of backslashes.
    bool SkipString() {
        const char* q = p_ + 1;
        for (;;) {
            q = static_cast<const char*>(std::memchr(q, '"', static_cast<size_t>(end_ - q)));
            if (!q) {
                return false;
            }
            size_t backslashes = 0;
            for (const char* b = q - 1; b > p_ && *b == '\\'; --b) {
                ++backslashes;
            }
            if (backslashes % 2 == 0) {
                p_ = q + 1;
                return true;
            }
            ++q;
        }
    }
    /// A member's key and the colon after it; leaves the cursor at the value.
    bool Key(std::string_view& key) {
        if (p_ >= end_ || *p_ != '"') {
            return false;
        }
        const char* start = p_ + 1;
        if (!SkipString()) {
            return false;
        }
        key = std::string_view(start, static_cast<size_t>(p_ - 1 - start));
        Space();
        if (!Consume(':')) {
            return false;
        }
        Space();
        return p_ < end_;
    }

    const char* p_;
    const char* end_;
};

/// Reads the fields of a usage object (the walker at its `{`); absent, null or non-integer
/// fields keep their previous value.
bool ReadUsageObject(JsonWalker& w, Usage& out) {
    return w.ForEachMember([&](std::string_view key, JsonWalker& v) {
        if (key == "input_tokens") {
            return v.Int(out.input_tokens);
        }
        if (key == "output_tokens") {
            return v.Int(out.output_tokens);
        }
        if (key == "cache_creation_input_tokens") {
            return v.Int(out.cache_creation_input_tokens);
        }
        if (key == "cache_read_input_tokens") {
            return v.Int(out.cache_read_input_tokens);
        }
        if (key == "cache_creation" && v.AtObject()) {
            return v.ForEachMember([&](std::string_view k, JsonWalker& x) {
                if (k == "ephemeral_5m_input_tokens") {
                    return x.Int(out.cache_creation_5m_tokens);
                }
                if (k == "ephemeral_1h_input_tokens") {
                    return x.Int(out.cache_creation_1h_tokens);
                }
                return x.SkipValue();
            });
        }
        return v.SkipValue();
    });
}

/// Reads `usage` found by following `path` (object keys) from the root of `json`.
bool ReadUsageAt(std::string_view json, std::initializer_list<std::string_view> path, Usage& out) {
    size_t i = 0;
    while (i < json.size() && (json[i] == ' ' || json[i] == '\n' || json[i] == '\r' || json[i] == '\t')) {
        ++i;
    }
    JsonWalker w(json.substr(i));
    for (std::string_view key : path) {
        if (!w.EnterMember(key)) {
            return false;
        }
    }
    // Read into a copy: a usage object cut off midway changes nothing.
    Usage read = out;
    if (!w.AtObject() || !ReadUsageObject(w, read)) {
        return false;
    }
    out = read;
    return true;
}

}  // namespace

void StreamUsageTap::OnEvent(std::string_view name, std::string_view data) {
    if (name == "message_start") {
        saw_start_ = true;
        ReadUsageAt(data, {"message", "usage"}, usage_);
    } else if (name == "message_delta") {
        ReadUsageAt(data, {"usage"}, usage_);
    } else if (name == "message_stop") {
        saw_stop_ = true;
    } else if (name == "error") {
        saw_error_ = true;
    }
}

bool ReadMessageUsage(std::string_view json, Usage& out) {
    return ReadUsageAt(json, {"usage"}, out);
}

}  // namespace clove::api
