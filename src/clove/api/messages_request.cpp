#include "clove/api/messages_request.hpp"

#include <simdjson.h>

#include <memory>

#include "clove/api/errors.hpp"

namespace clove::api {

namespace {

constexpr size_t kLargeBody = 1u << 20;

simdjson::dom::parser& ThreadParser() {
    // One parser per worker thread, reused across requests as simdjson recommends. Its buffers
    // are allocated once (untouched pages cost no RSS); larger bodies use a temporary parser.
    thread_local simdjson::dom::parser parser = [] {
        simdjson::dom::parser p(kLargeBody);
        (void)p.allocate(kLargeBody, kMaxJsonDepth);
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

}  // namespace

std::optional<RequestError> ParseMessagesRequest(std::string_view body, MessagesRequestView& out) {
    std::unique_ptr<simdjson::dom::parser> big;
    simdjson::dom::parser* parser = &ThreadParser();
    if (body.size() > kLargeBody) {
        big = std::make_unique<simdjson::dom::parser>(body.size());
        if (big->allocate(body.size(), kMaxJsonDepth)) {
            return RequestError{"request body too large to parse"};
        }
        parser = big.get();
    }
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
