#include "clove/api/messages_request.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <simdjson.h>

#include <cstring>
#include <memory>

#include "clove/api/errors.hpp"

namespace clove::api {

namespace {

/// Substring test with glibc's memmem (one linear pass): string_view::find calls memchr for every
/// occurrence of the needle's first byte, and in JSON a quote comes every few bytes.
bool Contains(std::string_view hay, std::string_view needle) noexcept {
    return ::memmem(hay.data(), hay.size(), needle.data(), needle.size()) != nullptr;
}

constexpr size_t kLargeBody = 1u << 20;

simdjson::dom::parser& ThreadParser() {
    // One parser per worker thread, reused across requests as simdjson recommends. Its buffers
    // are allocated once (untouched pages cost no RSS); larger bodies use a temporary parser.
    thread_local simdjson::dom::parser parser = [] {
        simdjson::dom::parser p(kLargeBody);
        if (p.allocate(kLargeBody, kMaxJsonDepth)) {
            // Out of memory at startup: parse() allocates again on first use.
        }
        return p;
    }();
    return parser;
}

std::string Describe(simdjson::error_code code) {
    switch (code) {
        case simdjson::DEPTH_ERROR:
            return "request body is nested too deeply (maximum depth is 128)";
        case simdjson::UTF8_ERROR:
            return "request body is not valid UTF-8";
        case simdjson::STRING_ERROR:
        case simdjson::UNCLOSED_STRING:
            return "request body contains an invalid string (bad escape or unpaired surrogate)";
        case simdjson::EMPTY:
            return "request body is empty; a JSON object is required";
        default:
            return std::string("request body is not valid JSON: ") + simdjson::error_message(code);
    }
}

/// A Boost.JSON SAX handler that keeps nothing but the top-level `model` and `stream`: large
/// bodies are validated (syntax, UTF-8, surrogates, depth) in constant memory, where a DOM would
/// need several times the body size (a 2 MB array of 10^6 numbers costs simdjson ~27 MB of tape).
struct TopLevelHandler {
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    int depth = 0;
    bool top_is_object = false;
    std::string key;      // last complete key at depth 1
    std::string partial;  // key or string being assembled
    std::optional<std::string> model;
    bool model_not_string = false;
    std::optional<bool> stream;
    bool stream_invalid = false;
    int64_t max_tokens = 0;

    bool AtTopValue() const { return depth == 1; }
    void NonString() {
        if (AtTopValue()) {
            if (key == "model") { model_not_string = true; }
            if (key == "stream") { stream_invalid = true; }
        }
    }

    bool on_document_begin(boost::system::error_code&) { return true; }
    bool on_document_end(boost::system::error_code&) { return true; }
    bool on_object_begin(boost::system::error_code&) {
        if (depth == 0) { top_is_object = true; } else { NonString(); }
        ++depth;
        return true;
    }
    bool on_object_end(std::size_t, boost::system::error_code&) { --depth; return true; }
    bool on_array_begin(boost::system::error_code&) { NonString(); ++depth; return true; }
    bool on_array_end(std::size_t, boost::system::error_code&) { --depth; return true; }
    bool on_key_part(std::string_view s, std::size_t, boost::system::error_code&) {
        if (depth == 1) { partial.append(s); }
        return true;
    }
    bool on_key(std::string_view s, std::size_t, boost::system::error_code&) {
        if (depth == 1) { partial.append(s); key = std::move(partial); partial.clear(); }
        return true;
    }
    bool on_string_part(std::string_view s, std::size_t, boost::system::error_code&) {
        if (AtTopValue() && key == "model") { partial.append(s); }
        return true;
    }
    bool on_string(std::string_view s, std::size_t, boost::system::error_code&) {
        if (AtTopValue()) {
            if (key == "model" && !model) { partial.append(s); model = std::move(partial); }
            if (key == "stream") { stream_invalid = true; }
        }
        partial.clear();
        return true;
    }
    bool on_number_part(std::string_view, boost::system::error_code&) { return true; }
    bool on_int64(std::int64_t v, std::string_view, boost::system::error_code&) {
        if (AtTopValue() && key == "max_tokens") { max_tokens = v; }
        NonString();
        return true;
    }
    bool on_uint64(std::uint64_t v, std::string_view, boost::system::error_code&) {
        if (AtTopValue() && key == "max_tokens") { max_tokens = static_cast<int64_t>(v); }
        NonString();
        return true;
    }
    bool on_double(double, std::string_view, boost::system::error_code&) { NonString(); return true; }
    bool on_bool(bool b, boost::system::error_code&) {
        if (AtTopValue()) {
            if (key == "stream") { stream = b; } else if (key == "model") { model_not_string = true; }
        }
        return true;
    }
    bool on_null(boost::system::error_code&) {
        if (AtTopValue() && key == "model") { model_not_string = true; }
        return true;
    }
    bool on_comment_part(std::string_view, boost::system::error_code&) { return true; }
    bool on_comment(std::string_view, boost::system::error_code&) { return true; }
};

std::optional<RequestError> ParseLarge(std::string_view body, MessagesRequestView& out) {
    boost::json::parse_options opt;
    opt.max_depth = kMaxJsonDepth;
    boost::json::basic_parser<TopLevelHandler> p(opt);
    boost::system::error_code ec;
    p.write_some(false, body.data(), body.size(), ec);
    if (ec) {
        if (ec == boost::json::error::too_deep) {
            return RequestError{"request body is nested too deeply (maximum depth is 128)"};
        }
        return RequestError{"request body is not valid JSON: " + ec.message()};
    }
    auto& h = p.handler();
    if (!h.top_is_object) {
        return RequestError{"request body must be a JSON object"};
    }
    if (h.model_not_string) {
        return RequestError{"model: Input should be a valid string"};
    }
    if (!h.model) {
        return RequestError{"model: Field required"};
    }
    if (h.model->empty()) {
        return RequestError{"model: String should have at least 1 character"};
    }
    if (h.stream_invalid) {
        return RequestError{"stream: Input should be a valid boolean"};
    }
    out.model = std::move(*h.model);
    out.stream = h.stream.value_or(false);
    out.max_tokens = h.max_tokens;
    return std::nullopt;
}

/// See MessagesRequestView::cache_prefix_hashes. Minified JSON of each part, so whitespace and
/// key spacing do not matter; a breakpoint inside a message counts the whole message.
void CachePrefixHashes(const simdjson::dom::object& obj, std::string_view model, std::vector<uint64_t>& out) {
    std::string acc(model);
    auto mark = [&](std::string_view part) {
        if (Contains(part, "\"cache_control\"") && out.size() < 8) {
            out.push_back(std::hash<std::string_view>{}(acc));
        }
    };
    for (const char* field : {"tools", "system"}) {
        simdjson::dom::element el;
        if (!obj.at_key(field).get(el)) {
            acc += '\x1e';
            std::string part = simdjson::minify(el);
            acc += part;
            mark(part);
        }
    }
    simdjson::dom::array messages;
    if (!obj.at_key("messages").get_array().get(messages)) {
        for (simdjson::dom::element m : messages) {
            acc += '\x1f';
            std::string part = simdjson::minify(m);
            acc += part;
            mark(part);
        }
    }
}

}  // namespace

std::optional<RequestError> ParseMessagesRequest(std::string_view body, MessagesRequestView& out) {
    if (body.size() > kLargeBody) {
        return ParseLarge(body, out);
    }
    simdjson::dom::parser* parser = &ThreadParser();
    simdjson::dom::element doc;
    auto err = parser->parse(body.data(), body.size(), true).get(doc);
    if (err) {
        return RequestError{Describe(err)};
    }
    simdjson::dom::object obj;
    if (doc.get_object().get(obj)) {
        return RequestError{"request body must be a JSON object"};
    }
    simdjson::dom::element model;
    if (obj.at_key("model").get(model)) {
        return RequestError{"model: Field required"};
    }
    std::string_view model_sv;
    if (model.get_string().get(model_sv)) {
        return RequestError{"model: Input should be a valid string"};
    }
    if (model_sv.empty()) {
        return RequestError{"model: String should have at least 1 character"};
    }
    out.model.assign(model_sv);
    out.stream = false;
    simdjson::dom::element stream;
    if (!obj.at_key("stream").get(stream)) {
        bool b = false;
        if (stream.is_null()) {
            b = false;
        } else if (stream.get_bool().get(b)) {
            return RequestError{"stream: Input should be a valid boolean"};
        }
        out.stream = b;
    }
    out.max_tokens = 0;
    int64_t mt = 0;
    if (!obj.at_key("max_tokens").get_int64().get(mt)) {
        out.max_tokens = mt;
    }
    out.cache_prefix_hashes.clear();
    if (Contains(body, "\"cache_control\"")) {
        CachePrefixHashes(obj, model_sv, out.cache_prefix_hashes);
    }
    return std::nullopt;
}

std::string SpliceModel(std::string_view body, std::string_view new_model) {
    simdjson::ondemand::parser parser;
    simdjson::padded_string padded(body);
    auto doc = parser.iterate(padded);
    std::string_view raw;
    bool found = false;
    for (auto field : doc.get_object()) {
        std::string_view key;
        if (field.unescaped_key().get(key)) {
            break;
        }
        if (key == "model") {
            if (!field.value().raw_json_token().get(raw)) {
                found = true;
            }
            break;
        }
    }
    std::string out;
    if (!found) {
        return std::string(body);
    }
    // raw_json_token includes whitespace up to the next token; keep that whitespace.
    size_t len = raw.size();
    while (len > 0 && (raw[len - 1] == ' ' || raw[len - 1] == '\t' || raw[len - 1] == '\n' ||
                       raw[len - 1] == '\r')) {
        --len;
    }
    size_t start = static_cast<size_t>(raw.data() - padded.data());
    out.reserve(body.size() + new_model.size());
    out.append(body.substr(0, start));
    AppendJsonString(out, new_model);
    out.append(body.substr(start + len));
    return out;
}

}  // namespace clove::api
