#include "clove/translate/collector.hpp"

#include <boost/json.hpp>

namespace clove::translate {

namespace json = boost::json;

void MessageCollector::OnEvent(std::string_view name, std::string_view data) {
    boost::system::error_code ec;
    json::value v = json::parse(data, ec);
    if (ec || !v.is_object()) {
        return;
    }
    auto& ev = v.as_object();
    auto index_of = [&ev]() -> int64_t {
        const auto* i = ev.if_contains("index");
        return i && i->is_int64() ? i->as_int64() : -1;
    };
    if (name == "message_start") {
        if (auto* m = ev.if_contains("message"); m && m->is_object()) {
            message_ = m->as_object();
            message_["content"] = json::array();
        }
    } else if (name == "content_block_start") {
        const int64_t i = index_of();
        auto* block = ev.if_contains("content_block");
        if (i < 0 || i > 4096 || !block || !message_.contains("content")) {
            return;
        }
        auto& content = message_["content"].as_array();
        while (static_cast<int64_t>(content.size()) <= i) {
            content.push_back(nullptr);
            partial_json_.emplace_back();
        }
        content[i] = *block;
    } else if (name == "content_block_delta") {
        const int64_t i = index_of();
        auto* delta = ev.if_contains("delta");
        if (i < 0 || !delta || !delta->is_object() || !message_.contains("content")) {
            return;
        }
        auto& content = message_["content"].as_array();
        if (i >= static_cast<int64_t>(content.size()) || !content[i].is_object()) {
            return;
        }
        auto& block = content[i].as_object();
        const auto& d = delta->as_object();
        const auto* type = d.if_contains("type");
        if (!type || !type->is_string()) {
            return;
        }
        auto append = [&](const char* field, const char* from) {
            const auto* piece = d.if_contains(from);
            if (!piece || !piece->is_string()) {
                return;
            }
            std::string cur = block.contains(field) && block.at(field).is_string() ? std::string(block.at(field).as_string())
                                                                                  : std::string();
            cur += piece->as_string();
            block[field] = cur;
        };
        if (*type == "text_delta") {
            append("text", "text");
        } else if (*type == "thinking_delta") {
            append("thinking", "thinking");
        } else if (*type == "signature_delta") {
            append("signature", "signature");
        } else if (*type == "input_json_delta") {
            if (const auto* p = d.if_contains("partial_json"); p && p->is_string()) {
                partial_json_[i] += p->as_string();
            }
        }
    } else if (name == "content_block_stop") {
        const int64_t i = index_of();
        if (i < 0 || !message_.contains("content")) {
            return;
        }
        auto& content = message_["content"].as_array();
        if (i >= static_cast<int64_t>(content.size()) || !content[i].is_object() || partial_json_[i].empty()) {
            return;
        }
        json::value input = json::parse(partial_json_[i], ec);
        if (!ec) {
            content[i].as_object()["input"] = std::move(input);
        }
    } else if (name == "message_delta") {
        if (const auto* d = ev.if_contains("delta"); d && d->is_object()) {
            for (const auto& [k, val] : d->as_object()) {
                message_[k] = val;
            }
        }
        if (const auto* u = ev.if_contains("usage"); u && u->is_object()) {
            if (!message_.contains("usage") || !message_["usage"].is_object()) {
                message_["usage"] = json::object();
            }
            auto& mu = message_["usage"].as_object();
            for (const auto& [k, val] : u->as_object()) {
                if (!val.is_null()) {
                    mu[k] = val;
                }
            }
        }
    } else if (name == "message_stop") {
        complete_ = true;
    } else if (name == "error") {
        if (const auto* e = ev.if_contains("error"); e && e->is_object()) {
            const auto& eo = e->as_object();
            error_type_ = eo.contains("type") && eo.at("type").is_string() ? std::string(eo.at("type").as_string()) : "api_error";
            error_message_ = eo.contains("message") && eo.at("message").is_string() ? std::string(eo.at("message").as_string())
                                                                                    : std::string("upstream error");
        } else {
            error_type_ = "api_error";
        }
    }
}

std::string MessageCollector::Json() const {
    json::object m = message_;
    if (auto* content = m.if_contains("content"); content && content->is_array()) {
        json::array kept;
        for (auto& b : content->as_array()) {
            if (!b.is_null()) {
                kept.push_back(std::move(b));
            }
        }
        *content = std::move(kept);
    }
    return json::serialize(m);
}

}  // namespace clove::translate
