#include "clove/api/usage.hpp"

#include <simdjson.h>

namespace clove::api {

namespace {

simdjson::ondemand::parser& ThreadParser() {
    thread_local simdjson::ondemand::parser parser;
    return parser;
}

void ReadInt(simdjson::ondemand::object& usage, std::string_view key, int64_t& out) {
    int64_t v = 0;
    auto field = usage.find_field_unordered(key);
    if (!field.error() && !field.get_int64().get(v)) {
        out = v;
    }
}

/// Reads the fields of a usage object; absent or null fields keep their previous value.
void ReadUsageObject(simdjson::ondemand::object usage, Usage& out) {
    ReadInt(usage, "input_tokens", out.input_tokens);
    ReadInt(usage, "output_tokens", out.output_tokens);
    ReadInt(usage, "cache_creation_input_tokens", out.cache_creation_input_tokens);
    ReadInt(usage, "cache_read_input_tokens", out.cache_read_input_tokens);
    auto cc = usage.find_field_unordered("cache_creation");
    simdjson::ondemand::object cco;
    if (!cc.error() && !cc.get_object().get(cco)) {
        ReadInt(cco, "ephemeral_5m_input_tokens", out.cache_creation_5m_tokens);
        ReadInt(cco, "ephemeral_1h_input_tokens", out.cache_creation_1h_tokens);
    }
}

/// Parses `json` (copied into padded scratch) and applies `fn` to the document.
template <typename Fn>
bool WithDocument(std::string_view json, std::string& scratch, Fn&& fn) {
    scratch.reserve(json.size() + simdjson::SIMDJSON_PADDING);
    scratch.assign(json);
    simdjson::padded_string_view view(scratch.data(), scratch.size(), scratch.capacity());
    simdjson::ondemand::document doc;
    if (ThreadParser().iterate(view).get(doc)) {
        return false;
    }
    return fn(doc);
}

}  // namespace

void StreamUsageTap::OnEvent(std::string_view name, std::string_view data) {
    if (name == "message_start") {
        saw_start_ = true;
        WithDocument(data, scratch_, [&](simdjson::ondemand::document& doc) {
            simdjson::ondemand::object message;
            if (doc.find_field_unordered("message").get_object().get(message)) {
                return false;
            }
            simdjson::ondemand::object usage;
            if (message.find_field_unordered("usage").get_object().get(usage)) {
                return false;
            }
            ReadUsageObject(usage, usage_);
            return true;
        });
    } else if (name == "message_delta") {
        WithDocument(data, scratch_, [&](simdjson::ondemand::document& doc) {
            simdjson::ondemand::object usage;
            if (doc.find_field_unordered("usage").get_object().get(usage)) {
                return false;
            }
            ReadUsageObject(usage, usage_);
            return true;
        });
    } else if (name == "message_stop") {
        saw_stop_ = true;
    } else if (name == "error") {
        saw_error_ = true;
    }
}

bool ReadMessageUsage(std::string_view json, Usage& out) {
    std::string scratch;
    return WithDocument(json, scratch, [&](simdjson::ondemand::document& doc) {
        simdjson::ondemand::object usage;
        if (doc.find_field_unordered("usage").get_object().get(usage)) {
            return false;
        }
        ReadUsageObject(usage, out);
        return true;
    });
}

}  // namespace clove::api
