#include "clove/proxy/models.hpp"

#include <charconv>

#include "clove/api/errors.hpp"
#include "clove/base/glob.hpp"
#include "clove/base/time.hpp"

namespace clove::proxy {

namespace {

struct CatalogueEntry {
    const char* id;
    const char* display_name;
    const char* created_at;
};

// Current Claude models, newest first. Dates are the public release dates where known; entries
// only appear when an upstream's globs match them.
constexpr CatalogueEntry kCatalogue[] = {
    {"claude-opus-4-8", "Claude Opus 4.8", "2026-06-01T00:00:00Z"},
    {"claude-opus-4-6", "Claude Opus 4.6", "2026-02-05T00:00:00Z"},
    {"claude-sonnet-4-6", "Claude Sonnet 4.6", "2026-02-17T00:00:00Z"},
    {"claude-opus-4-5", "Claude Opus 4.5", "2025-11-24T00:00:00Z"},
    {"claude-haiku-4-5", "Claude Haiku 4.5", "2025-10-15T00:00:00Z"},
    {"claude-sonnet-4-5", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"},
    {"claude-opus-4-1", "Claude Opus 4.1", "2025-08-05T00:00:00Z"},
};

std::string_view QueryParam(std::string_view query, std::string_view name) {
    size_t pos = 0;
    while (pos <= query.size()) {
        size_t amp = query.find('&', pos);
        if (amp == std::string_view::npos) {
            amp = query.size();
        }
        auto pair = query.substr(pos, amp - pos);
        auto eq = pair.find('=');
        if (pair.substr(0, eq) == name) {
            return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        }
        pos = amp + 1;
    }
    return {};
}

}  // namespace

std::vector<ModelEntry> ListModels(const Snapshot& snapshot) {
    std::vector<ModelEntry> out;
    auto add = [&](const std::string& id, const std::string& display, const std::string& created) {
        for (const auto& m : out) {
            if (m.id == id) {
                return;
            }
        }
        out.push_back({id, display, created});
    };
    for (const auto& u : snapshot.upstreams) {
        for (const auto& [name, target] : u.config.model_map) {
            add(name, name, "2025-01-01T00:00:00Z");
        }
        for (const auto& glob : u.config.models) {
            if (base::IsLiteralGlob(glob)) {
                add(glob, glob, "2025-01-01T00:00:00Z");
            }
        }
    }
    for (const auto& c : kCatalogue) {
        if (snapshot.Route(c.id).upstream) {
            add(c.id, c.display_name, c.created_at);
        }
    }
    return out;
}

std::string ModelJson(const ModelEntry& m) {
    std::string s = R"({"type":"model","id":)";
    api::AppendJsonString(s, m.id);
    s += R"(,"display_name":)";
    api::AppendJsonString(s, m.display_name);
    s += R"(,"created_at":)";
    api::AppendJsonString(s, m.created_at);
    s += "}";
    return s;
}

std::optional<std::string> ModelsPageJson(const std::vector<ModelEntry>& models, std::string_view query,
                                          std::string& error) {
    int limit = 20;
    if (auto l = QueryParam(query, "limit"); !l.empty()) {
        auto r = std::from_chars(l.data(), l.data() + l.size(), limit);
        if (r.ec != std::errc{} || r.ptr != l.data() + l.size() || limit < 1 || limit > 1000) {
            error = "limit: Input should be between 1 and 1000";
            return std::nullopt;
        }
    }
    size_t begin = 0;
    size_t end = models.size();
    auto index_of = [&](std::string_view id) -> std::optional<size_t> {
        for (size_t i = 0; i < models.size(); ++i) {
            if (models[i].id == id) {
                return i;
            }
        }
        return std::nullopt;
    };
    bool backwards = false;
    if (auto a = QueryParam(query, "after_id"); !a.empty()) {
        auto i = index_of(a);
        begin = i ? *i + 1 : models.size();
    } else if (auto b = QueryParam(query, "before_id"); !b.empty()) {
        auto i = index_of(b);
        end = i ? *i : 0;
        backwards = true;
    }
    size_t count = std::min(static_cast<size_t>(limit), end - std::min(begin, end));
    size_t first = backwards ? end - count : begin;
    bool has_more = backwards ? first > begin : first + count < end;
    std::string s = R"({"data":[)";
    for (size_t i = 0; i < count; ++i) {
        if (i) {
            s += ',';
        }
        s += ModelJson(models[first + i]);
    }
    s += R"(],"has_more":)";
    s += has_more ? "true" : "false";
    s += R"(,"first_id":)";
    if (count) {
        api::AppendJsonString(s, models[first].id);
    } else {
        s += "null";
    }
    s += R"(,"last_id":)";
    if (count) {
        api::AppendJsonString(s, models[first + count - 1].id);
    } else {
        s += "null";
    }
    s += "}";
    return s;
}

std::string OpenAIModelJson(const ModelEntry& m) {
    const int64_t created = base::ParseTimeMs(m.created_at).value_or(0) / 1000;
    std::string out = R"({"id":)";
    api::AppendJsonString(out, m.id);
    out += R"(,"object":"model","created":)";
    out += std::to_string(created);
    out += R"(,"owned_by":"clove"})";
    return out;
}

std::string OpenAIModelsJson(const std::vector<ModelEntry>& models) {
    std::string out = R"({"object":"list","data":[)";
    for (size_t i = 0; i < models.size(); ++i) {
        if (i) {
            out += ',';
        }
        out += OpenAIModelJson(models[i]);
    }
    out += "]}";
    return out;
}

}  // namespace clove::proxy
