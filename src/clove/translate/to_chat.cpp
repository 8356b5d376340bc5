#include "clove/translate/to_chat.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

#include "clove/translate/json_read.hpp"
#include "clove/translate/tool_emulation.hpp"

namespace clove::translate {

namespace json = boost::json;

namespace {

constexpr std::string_view kEncodedIdPrefix = "toolu_x";

bool PlainId(std::string_view id) {
    if (id.empty() || id.size() > 128) {
        return false;
    }
    for (char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

int HexVal(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/// Text of a `system` value or of tool_result / document content: a string, or text blocks.
std::string JoinText(const json::value& v, std::string_view sep) {
    if (v.is_string()) {
        return std::string(v.as_string());
    }
    std::string out;
    if (v.is_array()) {
        for (const auto& b : v.as_array()) {
            if (!b.is_object()) {
                continue;
            }
            const auto& o = b.as_object();
            if (StrOf(o.if_contains("type")) == "text") {
                if (!out.empty()) {
                    out += sep;
                }
                out += StrOf(o.if_contains("text"));
            }
        }
    }
    return out;
}

/// The `source` object of an image / document block (null when missing).
const json::object* SourceOf(const json::object& block) {
    const auto* src = block.if_contains("source");
    return src && src->is_object() ? &src->as_object() : nullptr;
}

/// An Anthropic image block -> an image_url part.
std::optional<TranslateError> ImagePart(const json::object& block, json::array& parts) {
    const json::object* src = SourceOf(block);
    if (!src) {
        return TranslateError{400, "image block without a source"};
    }
    const auto& s = *src;
    const auto type = StrOf(s.if_contains("type"));
    std::string url;
    if (type == "base64") {
        url = fmt::format("data:{};base64,{}", StrOf(s.if_contains("media_type")), StrOf(s.if_contains("data")));
    } else if (type == "url") {
        url = std::string(StrOf(s.if_contains("url")));
    } else {
        return TranslateError{400, fmt::format("image source type \"{}\" cannot be sent to an OpenAI-compatible upstream",
                                               type)};
    }
    parts.push_back(json::object{{"type", "image_url"}, {"image_url", json::object{{"url", std::move(url)}}}});
    return std::nullopt;
}

/// A document block -> a text part (text / content sources) or a file part (base64 PDF).
std::optional<TranslateError> DocumentPart(const json::object& block, json::array& parts) {
    const json::object* src = SourceOf(block);
    if (!src) {
        return TranslateError{400, "document block without a source"};
    }
    const auto& s = *src;
    const auto type = StrOf(s.if_contains("type"));
    std::string title(StrOf(block.if_contains("title")));
    if (type == "text") {
        std::string text = title.empty() ? std::string() : title + "\n\n";
        text += StrOf(s.if_contains("data"));
        parts.push_back(json::object{{"type", "text"}, {"text", std::move(text)}});
        return std::nullopt;
    }
    if (type == "content") {
        if (const auto* c = s.if_contains("content")) {
            parts.push_back(json::object{{"type", "text"}, {"text", JoinText(*c, "\n")}});
        }
        return std::nullopt;
    }
    if (type == "base64") {
        std::string data = fmt::format("data:{};base64,{}", StrOf(s.if_contains("media_type")), StrOf(s.if_contains("data")));
        parts.push_back(json::object{
            {"type", "file"},
            {"file", json::object{{"file_data", std::move(data)}, {"filename", title.empty() ? "document.pdf" : title}}}});
        return std::nullopt;
    }
    return TranslateError{400, fmt::format("document source type \"{}\" cannot be sent to an OpenAI-compatible upstream",
                                           type)};
}

/// Parts -> the message `content`: a plain string when every part is text (what every backend
/// accepts), else the parts array.
json::value ContentOf(json::array parts) {
    bool all_text = true;
    for (const auto& p : parts) {
        all_text = all_text && StrOf(p.as_object().if_contains("type")) == "text";
    }
    if (!all_text) {
        return parts;
    }
    std::string s;
    for (const auto& p : parts) {
        if (!s.empty()) {
            s += "\n";
        }
        s += StrOf(p.as_object().if_contains("text"));
    }
    return json::value(std::move(s));
}

std::string CompactJson(const json::value& v) { return json::serialize(v); }

struct Builder {
    const config::OpenAIOptions& opt;
    ChatPlan& plan;
    json::array messages;
    std::string system;        // the leading system message
    bool emulate_tools = false;

    std::optional<TranslateError> Fail(std::string msg) { return TranslateError{400, std::move(msg)}; }

    std::optional<TranslateError> User(const json::value& content) {
        if (content.is_string()) {
            PushUser(content.as_string());
            return std::nullopt;
        }
        if (!content.is_array()) {
            return Fail("messages: content must be a string or an array of content blocks");
        }
        json::array parts;
        json::array tool_images;  // images out of tool results: OpenAI tool messages hold text only
        for (const auto& b : content.as_array()) {
            if (!b.is_object()) {
                return Fail("messages: every content block must be an object");
            }
            const auto& o = b.as_object();
            const auto type = StrOf(o.if_contains("type"));
            if (type == "text") {
                parts.push_back(json::object{{"type", "text"}, {"text", StrOf(o.if_contains("text"))}});
            } else if (type == "image") {
                if (!opt.images) {
                    return Fail("this model's upstream does not accept images");
                }
                if (auto e = ImagePart(o, parts)) {
                    return e;
                }
            } else if (type == "document") {
                if (auto e = DocumentPart(o, parts)) {
                    return e;
                }
            } else if (type == "tool_result") {
                const auto id = StrOf(o.if_contains("tool_use_id"));
                const bool is_error = o.if_contains("is_error") && o.at("is_error").is_bool() && o.at("is_error").as_bool();
                const json::value empty_content = json::string();
                const json::value& c = o.if_contains("content") ? o.at("content") : empty_content;
                if (emulate_tools) {
                    parts.push_back(json::object{{"type", "text"}, {"text", RenderToolResult(id, c, is_error)}});
                    continue;
                }
                std::string text = JoinText(c, "\n");
                if (c.is_array()) {
                    for (const auto& cb : c.as_array()) {
                        if (cb.is_object() && StrOf(cb.as_object().if_contains("type")) == "image") {
                            if (!opt.images) {
                                return Fail("this model's upstream does not accept images");
                            }
                            if (auto e = ImagePart(cb.as_object(), tool_images)) {
                                return e;
                            }
                        }
                    }
                }
                if (!tool_images.empty() && text.empty()) {
                    text = "(image attached below)";
                }
                if (is_error) {
                    text = "Error: " + text;
                }
                // Tool results go before the rest of the user turn, one `tool` message each.
                messages.push_back(json::object{{"role", "tool"}, {"tool_call_id", UpstreamToolId(id)}, {"content", std::move(text)}});
            } else if (type == "search_result") {
                std::string text(StrOf(o.if_contains("title")));
                if (const auto* c = o.if_contains("content")) {
                    text += "\n" + JoinText(*c, "\n");
                }
                parts.push_back(json::object{{"type", "text"}, {"text", std::move(text)}});
            }
            // thinking / redacted_thinking / server tool blocks in a user turn: nothing to send.
        }
        for (auto& img : tool_images) {
            parts.push_back(std::move(img));
        }
        if (!parts.empty()) {
            PushUser(ContentOf(std::move(parts)));
        }
        return std::nullopt;
    }

    /// Appends a user message, merged into the previous one when that is a user message too
    /// (many chat templates require alternating roles; the Messages API merges them as well).
    void PushUser(json::value content) {
        if (!messages.empty() && StrOf(messages.back().as_object().if_contains("role")) == "user") {
            json::value& prev = messages.back().as_object()["content"];
            if (prev.is_string() && content.is_string()) {
                prev = json::string(std::string(prev.as_string()) + "\n\n" + std::string(content.as_string()));
                return;
            }
            json::array merged;
            for (json::value* v : {&prev, &content}) {
                if (v->is_string()) {
                    merged.push_back(json::object{{"type", "text"}, {"text", v->as_string()}});
                } else {
                    for (auto& p : v->as_array()) {
                        merged.push_back(std::move(p));
                    }
                }
            }
            prev = std::move(merged);
            return;
        }
        messages.push_back(json::object{{"role", "user"}, {"content", std::move(content)}});
    }

    std::optional<TranslateError> Assistant(const json::value& content) {
        if (content.is_string()) {
            messages.push_back(json::object{{"role", "assistant"}, {"content", content.as_string()}});
            return std::nullopt;
        }
        if (!content.is_array()) {
            return Fail("messages: content must be a string or an array of content blocks");
        }
        std::string text, reasoning;
        json::array calls;
        for (const auto& b : content.as_array()) {
            if (!b.is_object()) {
                return Fail("messages: every content block must be an object");
            }
            const auto& o = b.as_object();
            const auto type = StrOf(o.if_contains("type"));
            if (type == "text") {
                text += StrOf(o.if_contains("text"));
            } else if (type == "thinking") {
                reasoning += StrOf(o.if_contains("thinking"));
            } else if (type == "tool_use") {
                const json::value empty = json::object();
                const json::value& input = o.if_contains("input") ? o.at("input") : empty;
                if (emulate_tools) {
                    if (!text.empty() && text.back() != '\n') {
                        text += "\n";
                    }
                    text += RenderToolUse(StrOf(o.if_contains("id")), StrOf(o.if_contains("name")), input);
                    continue;
                }
                calls.push_back(json::object{
                    {"id", UpstreamToolId(StrOf(o.if_contains("id")))},
                    {"type", "function"},
                    {"function", json::object{{"name", StrOf(o.if_contains("name"))}, {"arguments", CompactJson(input)}}}});
            }
            // redacted_thinking and server tool blocks have no counterpart.
        }
        json::object m{{"role", "assistant"}};
        if (!text.empty() || calls.empty()) {
            m["content"] = std::move(text);
        } else {
            m["content"] = nullptr;
        }
        if (!calls.empty()) {
            m["tool_calls"] = std::move(calls);
        }
        if (opt.replay_reasoning && !reasoning.empty()) {
            m["reasoning_content"] = std::move(reasoning);
        }
        messages.push_back(std::move(m));
        return std::nullopt;
    }
};

std::string EffortFor(const json::object& req, int64_t budget) {
    if (const auto* oc = req.if_contains("output_config"); oc && oc->is_object()) {
        if (auto e = StrOf(oc->as_object().if_contains("effort")); !e.empty()) {
            return std::string(e == "max" ? "high" : e);
        }
    }
    if (budget <= 0) {
        return "medium";
    }
    return budget < 4096 ? "low" : budget < 16384 ? "medium" : "high";
}

}  // namespace

std::string ClientToolId(std::string_view upstream_id) {
    if (PlainId(upstream_id) && !upstream_id.starts_with(kEncodedIdPrefix)) {
        return std::string(upstream_id);
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(kEncodedIdPrefix);
    for (unsigned char c : upstream_id) {
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
    return out;
}

std::string UpstreamToolId(std::string_view client_id) {
    if (!client_id.starts_with(kEncodedIdPrefix) || (client_id.size() - kEncodedIdPrefix.size()) % 2 != 0) {
        return std::string(client_id);
    }
    std::string out;
    for (size_t i = kEncodedIdPrefix.size(); i + 1 < client_id.size(); i += 2) {
        const int hi = HexVal(client_id[i]), lo = HexVal(client_id[i + 1]);
        if (hi < 0 || lo < 0) {
            return std::string(client_id);
        }
        out += static_cast<char>(hi * 16 + lo);
    }
    return out;
}

std::optional<TranslateError> ToChatRequest(std::string_view anthropic_body, std::string_view upstream_model,
                                            const config::OpenAIOptions& opt, std::string& out, ChatPlan& plan,
                                            bool for_count) {
    boost::system::error_code ec;
    json::value root = json::parse(anthropic_body, ec);
    if (ec || !root.is_object()) {
        return TranslateError{400, "request body must be a JSON object"};
    }
    const auto& req = root.as_object();
    plan.client_model = std::string(StrOf(req.if_contains("model")));
    if (const auto* s = req.if_contains("stream"); s && s->is_bool()) {
        plan.client_stream = s->as_bool();
    }
    const auto* msgs = req.if_contains("messages");
    if (!msgs || !msgs->is_array()) {
        return TranslateError{400, "messages: Field required"};
    }
    const json::value one(1);
    const auto* max_tokens = for_count ? &one : req.if_contains("max_tokens");
    if (!max_tokens || !max_tokens->is_int64() || max_tokens->as_int64() < 1) {
        return TranslateError{400, "max_tokens: Field required (a positive integer)"};
    }

    Builder b{opt, plan, {}, {}};
    // Tools: native, emulated by prompt, or refused.
    const json::array* tools = nullptr;
    if (const auto* t = req.if_contains("tools"); t && t->is_array() && !t->as_array().empty()) {
        tools = &t->as_array();
    }
    const json::value* tool_choice = req.if_contains("tool_choice");
    const bool choice_none = tool_choice && tool_choice->is_object() &&
                             StrOf(tool_choice->as_object().if_contains("type")) == "none";
    json::array chat_tools;
    if (tools) {
        for (const auto& t : *tools) {
            if (!t.is_object()) {
                return TranslateError{400, "tools: every tool must be an object"};
            }
            const auto& o = t.as_object();
            const auto type = StrOf(o.if_contains("type"));
            if (!type.empty() && type != "custom") {
                return TranslateError{400, fmt::format("tools: the server tool \"{}\" is not available on this model's "
                                                       "upstream (an OpenAI-compatible API)", type)};
            }
            json::object fn{{"name", StrOf(o.if_contains("name"))}};
            if (auto d = StrOf(o.if_contains("description")); !d.empty()) {
                fn["description"] = d;
            }
            if (const auto* schema = o.if_contains("input_schema")) {
                fn["parameters"] = *schema;
            } else {
                fn["parameters"] = json::object{{"type", "object"}, {"properties", json::object()}};
            }
            chat_tools.push_back(json::object{{"type", "function"}, {"function", std::move(fn)}});
        }
        if (!opt.tools) {
            if (!opt.tool_emulation) {
                return TranslateError{400, "tools: this model's upstream does not support tool use (enable "
                                           "tool_emulation for it to call tools through the prompt)"};
            }
            b.emulate_tools = true;
        }
    }
    // Tool history in the messages also needs emulation when the backend has no tools.
    if (!opt.tools && opt.tool_emulation) {
        b.emulate_tools = true;
    }
    plan.tool_emulation = b.emulate_tools && tools && !choice_none;
    if (plan.tool_emulation) {
        plan.tools = *tools;
    }

    // System prompt.
    if (const auto* sys = req.if_contains("system")) {
        if (!sys->is_string() && !sys->is_array()) {
            return TranslateError{400, "system: must be a string or an array of text blocks"};
        }
        b.system = JoinText(*sys, "\n\n");
    }
    if (plan.tool_emulation) {
        std::string rendered = RenderToolInstructions(*tools, tool_choice);
        if (!rendered.empty()) {
            b.system = b.system.empty() ? rendered : b.system + "\n\n" + rendered;
        }
    }

    for (const auto& m : msgs->as_array()) {
        if (!m.is_object()) {
            return TranslateError{400, "messages: every message must be an object"};
        }
        const auto& o = m.as_object();
        const auto role = StrOf(o.if_contains("role"));
        const auto* content = o.if_contains("content");
        if (!content) {
            return TranslateError{400, "messages: every message needs content"};
        }
        std::optional<TranslateError> err;
        if (role == "user") {
            err = b.User(*content);
        } else if (role == "assistant") {
            err = b.Assistant(*content);
        } else if (role == "system") {
            std::string text = JoinText(*content, "\n\n");
            if (opt.system_anywhere) {
                b.messages.push_back(json::object{{"role", "system"}, {"content", std::move(text)}});
            } else if (!text.empty()) {
                b.system = b.system.empty() ? text : b.system + "\n\n" + text;
            }
        } else {
            return TranslateError{400, fmt::format("messages: unexpected role \"{}\"", role)};
        }
        if (err) {
            return err;
        }
    }

    json::object chat;
    chat["model"] = upstream_model;
    json::array all;
    if (!b.system.empty()) {
        all.push_back(json::object{{"role", "system"}, {"content", std::move(b.system)}});
    }
    for (auto& m : b.messages) {
        all.push_back(std::move(m));
    }
    const bool prefill = !all.empty() && StrOf(all.back().as_object().if_contains("role")) == "assistant";
    chat["messages"] = std::move(all);
    if (prefill && opt.continue_final_message) {
        chat["continue_final_message"] = true;
        chat["add_generation_prompt"] = false;
    }
    chat[opt.max_tokens_field] = max_tokens->as_int64();
    for (const char* k : {"temperature", "top_p"}) {
        if (const auto* v = req.if_contains(k); v && v->is_number()) {
            chat[k] = *v;
        }
    }
    if (opt.send_top_k) {
        if (const auto* v = req.if_contains("top_k"); v && v->is_number()) {
            chat["top_k"] = *v;
        }
    }
    // Stop sequences: all enforced here; the first few also upstream (it saves tokens).
    json::array stop;
    if (const auto* ss = req.if_contains("stop_sequences"); ss && ss->is_array()) {
        for (const auto& s : ss->as_array()) {
            if (s.is_string() && !s.as_string().empty()) {
                plan.stop_sequences.emplace_back(s.as_string());
            }
        }
    }
    if (plan.tool_emulation && opt.max_stop > 0) {
        stop.emplace_back(ToolCallsCloseTag());
    }
    for (const auto& s : plan.stop_sequences) {
        if (static_cast<int>(stop.size()) >= opt.max_stop) {
            break;
        }
        stop.emplace_back(s);
    }
    if (!stop.empty()) {
        chat["stop"] = std::move(stop);
    }
    chat["stream"] = true;
    if (opt.stream_usage) {
        chat["stream_options"] = json::object{{"include_usage", true}};
    }
    if (!chat_tools.empty() && !b.emulate_tools) {
        chat["tools"] = std::move(chat_tools);
        if (tool_choice && tool_choice->is_object()) {
            const auto& tc = tool_choice->as_object();
            const auto type = StrOf(tc.if_contains("type"));
            if (type == "any") {
                chat["tool_choice"] = "required";
            } else if (type == "none") {
                chat["tool_choice"] = "none";
            } else if (type == "tool") {
                chat["tool_choice"] = json::object{{"type", "function"},
                                                   {"function", json::object{{"name", StrOf(tc.if_contains("name"))}}}};
            } else {
                chat["tool_choice"] = "auto";
            }
            if (const auto* dp = tc.if_contains("disable_parallel_tool_use"); dp && dp->is_bool() && dp->as_bool()) {
                chat["parallel_tool_calls"] = false;
            }
        }
    }
    // Thinking: to the backend's reasoning switch.
    if (const auto* th = req.if_contains("thinking"); th && th->is_object()) {
        const auto& t = th->as_object();
        const auto type = StrOf(t.if_contains("type"));
        const bool on = type == "enabled" || type == "adaptive";
        int64_t budget = 0;
        if (const auto* bt = t.if_contains("budget_tokens"); bt && bt->is_int64()) {
            budget = bt->as_int64();
        }
        plan.thinking = on;
        if (opt.reasoning_control == "reasoning_effort") {
            chat["reasoning_effort"] = on ? EffortFor(req, budget) : std::string("none");
        } else if (opt.reasoning_control == "chat_template_kwargs") {
            chat["chat_template_kwargs"] = json::object{{"enable_thinking", on}};
        } else if (opt.reasoning_control == "openrouter") {
            if (on && budget > 0) {
                chat["reasoning"] = json::object{{"max_tokens", budget}};
            } else if (on) {
                chat["reasoning"] = json::object{{"effort", EffortFor(req, budget)}};
            } else {
                chat["reasoning"] = json::object{{"enabled", false}};
            }
        }
    }
    if (const auto* md = req.if_contains("metadata"); md && md->is_object()) {
        if (auto u = StrOf(md->as_object().if_contains("user_id")); !u.empty()) {
            chat["user"] = u;
        }
    }
    if (const auto* oc = req.if_contains("output_config"); oc && oc->is_object()) {
        if (const auto* f = oc->as_object().if_contains("format"); f && f->is_object()) {
            const auto& fo = f->as_object();
            if (StrOf(fo.if_contains("type")) == "json_schema" && fo.if_contains("schema")) {
                chat["response_format"] = json::object{
                    {"type", "json_schema"},
                    {"json_schema", json::object{{"name", "output"}, {"schema", fo.at("schema")}, {"strict", true}}}};
            }
        }
    }
    out = json::serialize(chat);
    return std::nullopt;
}

}  // namespace clove::translate
