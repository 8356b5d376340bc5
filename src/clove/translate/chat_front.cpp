#include "clove/translate/chat_front.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "clove/api/errors.hpp"

namespace clove::translate {

namespace json = boost::json;

namespace {

using Err = std::optional<TranslateError>;

constexpr std::size_t kMaxJsonDepth = 128;

TranslateError Bad(std::string message) { return TranslateError{400, std::move(message)}; }

std::string_view Sv(const json::string& s) { return {s.data(), s.size()}; }

/// Parses `text` as JSON (UTF-8 and syntax validated by Boost.JSON). nullopt on any error.
std::optional<json::value> ParseJson(std::string_view text, std::string* error = nullptr) {
    boost::system::error_code ec;
    json::parse_options opt;
    opt.max_depth = kMaxJsonDepth;
    json::value v = json::parse(json::string_view(text.data(), text.size()), ec, json::storage_ptr(), opt);
    if (ec) {
        if (error) { *error = ec.message(); }
        return std::nullopt;
    }
    return v;
}

/// The member `key` of `obj`, or nullptr when it is missing or JSON null.
const json::value* Field(const json::object& obj, std::string_view key) {
    const json::value* v = obj.if_contains(json::string_view(key.data(), key.size()));
    return (v && !v->is_null()) ? v : nullptr;
}

const json::string* StringField(const json::object& obj, std::string_view key) {
    const json::value* v = Field(obj, key);
    return v ? v->if_string() : nullptr;
}

const json::object* ObjectField(const json::object& obj, std::string_view key) {
    const json::value* v = Field(obj, key);
    return v ? v->if_object() : nullptr;
}

std::optional<int64_t> AsInt(const json::value& v) {
    if (v.is_int64()) { return v.get_int64(); }
    if (v.is_uint64()) {
        if (v.get_uint64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) { return std::nullopt; }
        return static_cast<int64_t>(v.get_uint64());
    }
    if (v.is_double()) {
        const double d = v.get_double();
        if (d >= -9.0e18 && d <= 9.0e18 && static_cast<double>(static_cast<int64_t>(d)) == d) {
            return static_cast<int64_t>(d);
        }
    }
    return std::nullopt;
}

std::optional<double> AsNumber(const json::value& v) {
    if (v.is_int64()) { return static_cast<double>(v.get_int64()); }
    if (v.is_uint64()) { return static_cast<double>(v.get_uint64()); }
    if (v.is_double()) { return v.get_double(); }
    return std::nullopt;
}

int64_t IntField(const json::object& obj, std::string_view key) {
    const json::value* v = Field(obj, key);
    if (!v) { return 0; }
    return AsInt(*v).value_or(0);
}

std::string Lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') { c = static_cast<char>(c - 'A' + 'a'); }
    }
    return out;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && Lower(s.substr(0, prefix.size())) == prefix;
}

bool IsBlank(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    });
}

std::string Trim(std::string_view s) {
    size_t b = 0;
    size_t e = s.size();
    while (b < e && (s[b] == ' ' || s[b] == '\t')) { ++b; }
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) { --e; }
    return std::string(s.substr(b, e - b));
}

/// `s` with every invalid UTF-8 sequence replaced by U+FFFD.
std::string ValidUtf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    const size_t n = s.size();
    while (i < n) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
            continue;
        }
        size_t len = 0;
        uint32_t cp = 0;
        uint32_t min = 0;
        if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1Fu, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0Fu, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07u, min = 0x10000;
        }
        bool ok = len != 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) {
                ok = false;
            } else {
                cp = (cp << 6) | (cc & 0x3Fu);
            }
        }
        if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) { ok = false; }
        if (ok) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out += "\xEF\xBF\xBD";
            ++i;
        }
    }
    return out;
}

std::string JsonString(std::string_view s) {
    std::string out;
    api::AppendJsonString(out, s);
    return out;
}

json::object TextBlock(std::string_view text) {
    return json::object{{"type", "text"}, {"text", json::string_view(text.data(), text.size())}};
}

bool IsSafeToolId(std::string_view id) {
    return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

/// A tool id Anthropic accepts (^[A-Za-z0-9_-]+$): kept when valid, else `toolu_x<hex>` (the same
/// input always gives the same output, so tool_use and tool_result ids still match).
std::string SafeToolId(std::string_view id) {
    if (IsSafeToolId(id)) { return std::string(id); }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "toolu_x";
    for (unsigned char c : id) {
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
    }
    return out;
}

struct DataUrl {
    std::string media_type;  // lower case
    bool base64 = false;
    std::string_view data;
};

/// `data:<media type>[;param]*[;base64],<data>`. nullopt when `url` is not a data URL.
std::optional<DataUrl> ParseDataUrl(std::string_view url) {
    if (!StartsWithNoCase(url, "data:")) { return std::nullopt; }
    const size_t comma = url.find(',');
    if (comma == std::string_view::npos) { return std::nullopt; }
    std::string_view header = url.substr(5, comma - 5);
    DataUrl out;
    out.data = url.substr(comma + 1);
    size_t semi = header.find(';');
    out.media_type = Lower(Trim(header.substr(0, semi)));
    while (semi != std::string_view::npos) {
        header = header.substr(semi + 1);
        semi = header.find(';');
        if (Lower(Trim(header.substr(0, semi))) == "base64") { out.base64 = true; }
    }
    return out;
}

bool IsImageMediaType(std::string_view mt) {
    return mt == "image/jpeg" || mt == "image/png" || mt == "image/gif" || mt == "image/webp";
}

/// An Anthropic image block for an OpenAI `image_url.url`.
Err ImageFromUrl(std::string_view url, const std::string& path, json::array& blocks) {
    if (auto data = ParseDataUrl(url)) {
        if (!data->base64) { return Bad(path + ": image data URLs must be base64 encoded"); }
        std::string mt = data->media_type == "image/jpg" ? "image/jpeg" : data->media_type;
        if (!IsImageMediaType(mt)) {
            return Bad(path + ": image media type \"" + ValidUtf8(mt) +
                       "\" is not supported (use image/jpeg, image/png, image/gif or image/webp)");
        }
        if (data->data.empty()) { return Bad(path + ": image data URL has no data"); }
        blocks.push_back(json::object{
            {"type", "image"},
            {"source", json::object{{"type", "base64"},
                                    {"media_type", json::string_view(mt.data(), mt.size())},
                                    {"data", json::string_view(data->data.data(), data->data.size())}}}});
        return std::nullopt;
    }
    if (StartsWithNoCase(url, "https://") || StartsWithNoCase(url, "http://")) {
        blocks.push_back(json::object{
            {"type", "image"},
            {"source", json::object{{"type", "url"}, {"url", json::string_view(url.data(), url.size())}}}});
        return std::nullopt;
    }
    return Bad(path + ": image_url.url must be a base64 data: URL or an http(s) URL");
}

/// An OpenAI `file` part ({file:{file_data, file_id, filename}}) -> document (PDF) or image block.
Err FileBlock(const json::object& part, const std::string& path, json::array& blocks) {
    const json::object* file = ObjectField(part, "file");
    if (!file) { return Bad(path + ".file: required object"); }
    const json::string* file_data = StringField(*file, "file_data");
    if (!file_data) {
        if (Field(*file, "file_id")) {
            return Bad(path + ".file.file_id: file ids are not supported on this model; send file_data");
        }
        return Bad(path + ".file.file_data: required string");
    }
    std::string_view fd = Sv(*file_data);
    std::string mt = "application/pdf";
    std::string_view data = fd;
    if (auto url = ParseDataUrl(fd)) {
        if (!url->base64) { return Bad(path + ".file.file_data: data URLs must be base64 encoded"); }
        mt = url->media_type == "image/jpg" ? "image/jpeg" : url->media_type;
        data = url->data;
    }
    if (data.empty()) { return Bad(path + ".file.file_data: no data"); }
    if (IsImageMediaType(mt)) {
        blocks.push_back(json::object{
            {"type", "image"},
            {"source", json::object{{"type", "base64"},
                                    {"media_type", json::string_view(mt.data(), mt.size())},
                                    {"data", json::string_view(data.data(), data.size())}}}});
        return std::nullopt;
    }
    if (mt != "application/pdf") {
        return Bad(path + ".file: media type \"" + ValidUtf8(mt) +
                   "\" is not supported (PDF documents and jpeg/png/gif/webp images only)");
    }
    json::object doc{{"type", "document"},
                     {"source", json::object{{"type", "base64"},
                                             {"media_type", "application/pdf"},
                                             {"data", json::string_view(data.data(), data.size())}}}};
    if (const json::string* name = StringField(*file, "filename"); name && !name->empty()) {
        doc["title"] = *name;
    }
    blocks.push_back(std::move(doc));
    return std::nullopt;
}

enum class PartContext { kUser, kTool };

/// One user (or tool message) content part -> Anthropic block(s) appended to `blocks`.
Err ConvertPart(const json::value& v, const std::string& path, PartContext ctx, json::array& blocks) {
    const json::object* part = v.if_object();
    if (!part) { return Bad(path + ": content parts must be objects"); }
    const json::string* type = StringField(*part, "type");
    if (!type) { return Bad(path + ".type: required string"); }
    const std::string_view t = Sv(*type);
    if (t == "text") {
        const json::string* text = StringField(*part, "text");
        if (!text) { return Bad(path + ".text: required string"); }
        if (!text->empty()) { blocks.push_back(TextBlock(Sv(*text))); }
        return std::nullopt;
    }
    if (t == "image_url") {
        const json::value* iu = Field(*part, "image_url");
        const json::string* url = nullptr;
        if (iu && iu->is_object()) {
            url = StringField(iu->get_object(), "url");
        } else if (iu) {
            url = iu->if_string();  // older clients send the URL directly
        }
        if (!url) { return Bad(path + ".image_url.url: required string"); }
        return ImageFromUrl(Sv(*url), path + ".image_url.url", blocks);
    }
    if (t == "input_audio") {
        return Bad(path + ": input_audio content is not supported by this model");
    }
    if (t == "file" && ctx == PartContext::kUser) { return FileBlock(*part, path, blocks); }
    if (t == "refusal") { return std::nullopt; }
    return Bad(path + ": unsupported content part type \"" + std::string(t) + "\"");
}

/// Text of system/developer/assistant content: a string or text parts (refusal parts skipped).
Err TextContent(const json::value* content, const std::string& path, std::string_view sep,
                std::vector<std::string>& texts) {
    if (!content) { return std::nullopt; }
    if (const json::string* s = content->if_string()) {
        texts.emplace_back(Sv(*s));
        return std::nullopt;
    }
    const json::array* parts = content->if_array();
    if (!parts) { return Bad(path + ": must be a string or an array of text parts"); }
    std::string joined;
    bool any = false;
    for (size_t j = 0; j < parts->size(); ++j) {
        const std::string ppath = path + "[" + std::to_string(j) + "]";
        const json::object* part = (*parts)[j].if_object();
        const json::string* type = part ? StringField(*part, "type") : nullptr;
        if (!type) { return Bad(ppath + ".type: required string"); }
        if (*type == "refusal") { continue; }
        if (*type != "text") {
            return Bad(ppath + ": only text parts are allowed here, got \"" + std::string(Sv(*type)) + "\"");
        }
        const json::string* text = StringField(*part, "text");
        if (!text) { return Bad(ppath + ".text: required string"); }
        if (sep.empty()) {
            texts.emplace_back(Sv(*text));
        } else {
            if (any) { joined += sep; }
            joined += Sv(*text);
            any = true;
        }
    }
    if (any) { texts.push_back(std::move(joined)); }
    return std::nullopt;
}

/// OpenAI function definition ({name, description?, parameters?}) -> Anthropic tool.
Err ConvertFunction(const json::object& fn, const std::string& path, json::array& tools) {
    const json::string* name = StringField(fn, "name");
    if (!name || name->empty()) { return Bad(path + ".name: required non-empty string"); }
    json::object tool;
    tool["name"] = *name;
    if (const json::string* desc = StringField(fn, "description"); desc && !desc->empty()) {
        tool["description"] = *desc;
    }
    const json::value* params = Field(fn, "parameters");
    if (!params) {
        tool["input_schema"] = json::object{{"type", "object"}, {"properties", json::object{}}};
    } else if (const json::object* p = params->if_object()) {
        json::object schema = *p;
        if (!schema.contains("type")) { schema["type"] = "object"; }
        tool["input_schema"] = std::move(schema);
    } else {
        return Bad(path + ".parameters: must be a JSON Schema object");
    }
    tools.push_back(std::move(tool));
    return std::nullopt;
}

/// Parsed tool call arguments -> tool_use `input`.
Err ParseArguments(const json::value* args, const std::string& path, const std::string& call, json::value& input) {
    if (!args) {
        input = json::object{};
        return std::nullopt;
    }
    if (args->is_object()) {  // lenient: some clients send the object itself
        input = *args;
        return std::nullopt;
    }
    const json::string* s = args->if_string();
    if (!s) { return Bad(path + ": must be a string of JSON for tool call " + call); }
    if (IsBlank(Sv(*s))) {
        input = json::object{};
        return std::nullopt;
    }
    std::string error;
    auto parsed = ParseJson(Sv(*s), &error);
    if (!parsed) {
        return Bad(path + ": invalid JSON in the arguments of tool call " + call + ": " + error);
    }
    if (parsed->is_null()) {
        input = json::object{};
    } else if (parsed->is_object()) {
        input = std::move(*parsed);
    } else {
        return Bad(path + ": the arguments of tool call " + call + " must be a JSON object");
    }
    return std::nullopt;
}

/// Builds the Anthropic `messages` (and `system`) from OpenAI messages.
class MessageConverter {
public:
    Err Run(const json::array& messages) {
        for (size_t i = 0; i < messages.size(); ++i) {
            if (auto e = One(messages[i], "messages[" + std::to_string(i) + "]")) { return e; }
        }
        TrimTrailingAssistant();
        if (turns_.empty()) { return Bad("messages: at least one user or assistant message is required"); }
        return std::nullopt;
    }

    std::string System() const {
        std::string out;
        for (const auto& s : system_) {
            if (s.empty()) { continue; }
            if (!out.empty()) { out += '\n'; }
            out += s;
        }
        return out;
    }

    json::array Messages() const {
        json::array out;
        for (const Turn& t : turns_) {
            json::object m;
            m["role"] = t.role;
            if (t.single_string && t.blocks.size() == 1) {
                m["content"] = t.blocks[0].get_object().at("text");
            } else {
                json::array content = t.results;
                for (const json::value& b : t.blocks) {
                    const json::object& bo = b.get_object();
                    const json::string* type = StringField(bo, "type");
                    const json::string* text = StringField(bo, "text");
                    if (type && *type == "text" && (!text || text->empty())) { continue; }
                    content.push_back(b);
                }
                if (content.empty()) {
                    if (t.role == "assistant") { continue; }
                    m["content"] = "";
                } else {
                    m["content"] = std::move(content);
                }
            }
            out.push_back(std::move(m));
        }
        return out;
    }

private:
    struct Turn {
        std::string role;
        json::array results;  // tool_result blocks: first in a user turn
        json::array blocks;
        bool single_string = false;  // one message whose content was a string
    };

    void Add(std::string_view role, json::array results, json::array blocks, bool single_string) {
        if (!turns_.empty() && turns_.back().role == role) {
            Turn& t = turns_.back();
            t.single_string = false;
            for (auto& r : results) { t.results.push_back(std::move(r)); }
            for (auto& b : blocks) { t.blocks.push_back(std::move(b)); }
            return;
        }
        turns_.push_back(Turn{std::string(role), std::move(results), std::move(blocks), single_string});
    }

    Err One(const json::value& v, const std::string& path) {
        const json::object* m = v.if_object();
        if (!m) { return Bad(path + ": must be an object"); }
        const json::string* role = StringField(*m, "role");
        if (!role) { return Bad(path + ".role: required string"); }
        const json::value* content = Field(*m, "content");
        const std::string cpath = path + ".content";
        if (*role == "system" || *role == "developer") {
            return TextContent(content, cpath, "\n", system_);
        }
        if (*role == "user") { return User(content, cpath); }
        if (*role == "assistant") { return Assistant(*m, path); }
        if (*role == "tool") {
            const json::string* id = StringField(*m, "tool_call_id");
            if (!id || id->empty()) { return Bad(path + ".tool_call_id: required non-empty string"); }
            return ToolResult(SafeToolId(Sv(*id)), content, cpath);
        }
        if (*role == "function") {
            const json::string* name = StringField(*m, "name");
            if (!name) { return Bad(path + ".name: required string for a function message"); }
            auto it = std::find_if(legacy_pending_.begin(), legacy_pending_.end(),
                                   [&](const auto& p) { return p.first == Sv(*name); });
            if (it == legacy_pending_.end()) {
                return Bad(path + ": function message \"" + std::string(Sv(*name)) +
                           "\" does not answer an assistant function_call");
            }
            std::string id = it->second;
            legacy_pending_.erase(it);
            return ToolResult(id, content, cpath);
        }
        return Bad(path + ".role: unknown role \"" + std::string(Sv(*role)) +
                   "\" (expected system, developer, user, assistant or tool)");
    }

    Err User(const json::value* content, const std::string& path) {
        json::array blocks;
        if (!content) { return Bad(path + ": required for user messages"); }
        if (const json::string* s = content->if_string()) {
            blocks.push_back(TextBlock(Sv(*s)));
            Add("user", {}, std::move(blocks), true);
            return std::nullopt;
        }
        const json::array* parts = content->if_array();
        if (!parts) { return Bad(path + ": must be a string or an array of content parts"); }
        for (size_t j = 0; j < parts->size(); ++j) {
            if (auto e = ConvertPart((*parts)[j], path + "[" + std::to_string(j) + "]", PartContext::kUser, blocks)) {
                return e;
            }
        }
        Add("user", {}, std::move(blocks), false);
        return std::nullopt;
    }

    Err ToolResult(const std::string& id, const json::value* content, const std::string& path) {
        json::object result{{"type", "tool_result"}, {"tool_use_id", id}};
        if (content) {
            if (const json::string* s = content->if_string()) {
                if (!s->empty()) { result["content"] = *s; }
            } else if (const json::array* parts = content->if_array()) {
                json::array blocks;
                for (size_t j = 0; j < parts->size(); ++j) {
                    if (auto e = ConvertPart((*parts)[j], path + "[" + std::to_string(j) + "]", PartContext::kTool,
                                             blocks)) {
                        return e;
                    }
                }
                bool all_text = true;
                std::string text;
                for (const auto& b : blocks) {
                    const json::object& bo = b.get_object();
                    if (bo.at("type") != "text") {
                        all_text = false;
                        break;
                    }
                    text += Sv(bo.at("text").get_string());
                }
                if (!all_text) {
                    result["content"] = std::move(blocks);
                } else if (!text.empty()) {
                    result["content"] = text;
                }
            } else {
                return Bad(path + ": must be a string or an array of content parts");
            }
        }
        json::array results;
        results.push_back(std::move(result));
        Add("user", std::move(results), {}, false);
        return std::nullopt;
    }

    Err Assistant(const json::object& m, const std::string& path) {
        json::array blocks;
        std::vector<std::string> texts;
        if (auto e = TextContent(Field(m, "content"), path + ".content", "", texts)) { return e; }
        for (const auto& t : texts) {
            if (!t.empty()) { blocks.push_back(TextBlock(t)); }
        }
        if (const json::value* calls = Field(m, "tool_calls")) {
            const json::array* arr = calls->if_array();
            if (!arr) { return Bad(path + ".tool_calls: must be an array"); }
            for (size_t j = 0; j < arr->size(); ++j) {
                const std::string cpath = path + ".tool_calls[" + std::to_string(j) + "]";
                const json::object* call = (*arr)[j].if_object();
                if (!call) { return Bad(cpath + ": must be an object"); }
                if (const json::string* type = StringField(*call, "type"); type && *type != "function") {
                    return Bad(cpath + ".type: only function tool calls are supported");
                }
                const json::string* id = StringField(*call, "id");
                if (!id || id->empty()) { return Bad(cpath + ".id: required non-empty string"); }
                const json::object* fn = ObjectField(*call, "function");
                const json::string* name = fn ? StringField(*fn, "name") : nullptr;
                if (!name || name->empty()) { return Bad(cpath + ".function.name: required non-empty string"); }
                const std::string desc = "\"" + std::string(Sv(*id)) + "\" (" + std::string(Sv(*name)) + ")";
                json::value input;
                if (auto e = ParseArguments(Field(*fn, "arguments"), cpath + ".function.arguments", desc, input)) {
                    return e;
                }
                blocks.push_back(json::object{{"type", "tool_use"},
                                              {"id", SafeToolId(Sv(*id))},
                                              {"name", *name},
                                              {"input", std::move(input)}});
            }
        }
        if (const json::object* fc = ObjectField(m, "function_call")) {  // legacy function calling
            const json::string* name = StringField(*fc, "name");
            if (!name || name->empty()) { return Bad(path + ".function_call.name: required non-empty string"); }
            std::string id = "call_legacy_" + std::to_string(++legacy_count_);
            json::value input;
            if (auto e = ParseArguments(Field(*fc, "arguments"), path + ".function_call.arguments",
                                        "\"" + std::string(Sv(*name)) + "\"", input)) {
                return e;
            }
            legacy_pending_.emplace_back(std::string(Sv(*name)), id);
            blocks.push_back(
                json::object{{"type", "tool_use"}, {"id", id}, {"name", *name}, {"input", std::move(input)}});
        }
        if (blocks.empty()) { return std::nullopt; }  // nothing to say: dropped
        Add("assistant", {}, std::move(blocks), false);
        return std::nullopt;
    }

    /// Anthropic rejects a final assistant turn (prefill) whose text ends in whitespace.
    void TrimTrailingAssistant() {
        while (!turns_.empty() && turns_.back().role == "assistant") {
            json::array& blocks = turns_.back().blocks;
            while (!blocks.empty()) {
                json::object& last = blocks.back().get_object();
                if (last.at("type") != "text") { return; }
                std::string text(Sv(last.at("text").get_string()));
                while (!text.empty() && IsBlank(std::string_view(&text.back(), 1))) { text.pop_back(); }
                if (!text.empty()) {
                    last["text"] = text;
                    return;
                }
                blocks.pop_back();
            }
            turns_.pop_back();
        }
    }

    std::vector<std::string> system_;
    std::vector<Turn> turns_;
    std::vector<std::pair<std::string, std::string>> legacy_pending_;  // (function name, made-up id)
    int legacy_count_ = 0;
};

/// `tool_choice` (or legacy `function_call`) -> Anthropic tool_choice; `allowed` receives the
/// names of an allowed_tools choice.
Err ConvertToolChoice(const json::value& v, const std::string& path, std::optional<json::object>& choice,
                      std::optional<std::vector<std::string>>& allowed) {
    if (const json::string* s = v.if_string()) {
        if (*s == "auto") {
            choice = json::object{{"type", "auto"}};
        } else if (*s == "none") {
            choice = json::object{{"type", "none"}};
        } else if (*s == "required") {
            choice = json::object{{"type", "any"}};
        } else {
            return Bad(path + ": must be \"auto\", \"none\", \"required\" or an object");
        }
        return std::nullopt;
    }
    const json::object* o = v.if_object();
    if (!o) { return Bad(path + ": must be a string or an object"); }
    const json::string* type = StringField(*o, "type");
    if (!type) {  // legacy function_call {name}
        const json::string* name = StringField(*o, "name");
        if (!name || name->empty()) { return Bad(path + ".name: required non-empty string"); }
        choice = json::object{{"type", "tool"}, {"name", *name}};
        return std::nullopt;
    }
    if (*type == "function") {
        const json::object* fn = ObjectField(*o, "function");
        const json::string* name = fn ? StringField(*fn, "name") : nullptr;
        if (!name || name->empty()) { return Bad(path + ".function.name: required non-empty string"); }
        choice = json::object{{"type", "tool"}, {"name", *name}};
        return std::nullopt;
    }
    if (*type == "allowed_tools") {
        const json::object* at = ObjectField(*o, "allowed_tools");
        if (!at) { return Bad(path + ".allowed_tools: required object"); }
        const json::string* mode = StringField(*at, "mode");
        if (!mode || (*mode != "auto" && *mode != "required")) {
            return Bad(path + ".allowed_tools.mode: must be \"auto\" or \"required\"");
        }
        choice = json::object{{"type", *mode == "auto" ? "auto" : "any"}};
        std::vector<std::string> names;
        if (const json::value* tl = Field(*at, "tools"); tl && tl->is_array()) {
            for (const auto& t : tl->get_array()) {
                const json::object* to = t.if_object();
                const json::object* fn = to ? ObjectField(*to, "function") : nullptr;
                const json::string* name = fn ? StringField(*fn, "name") : nullptr;
                if (!name && to) { name = StringField(*to, "name"); }
                if (name) { names.emplace_back(Sv(*name)); }
            }
        }
        allowed = std::move(names);
        return std::nullopt;
    }
    return Bad(path + ".type: unsupported tool_choice type \"" + std::string(Sv(*type)) + "\"");
}

std::optional<int64_t> BudgetForEffort(std::string_view effort) {
    if (effort == "minimal") { return 1024; }
    if (effort == "low") { return 2048; }
    if (effort == "medium") { return 4096; }
    if (effort == "high") { return 16384; }
    if (effort == "xhigh") { return 32768; }
    if (effort == "max") { return 65536; }
    return std::nullopt;
}

Err Translate(std::string_view body, std::string_view upstream_model, int64_t default_max_tokens,
              std::string& anthropic_body, FrontPlan& plan) {
    std::string perror;
    auto parsed = ParseJson(body, &perror);
    if (!parsed) { return Bad("request body is not valid JSON: " + perror); }
    const json::object* req = parsed->if_object();
    if (!req) { return Bad("request body must be a JSON object"); }

    const json::string* model = StringField(*req, "model");
    if (!model || model->empty()) { return Bad("model: required non-empty string"); }
    plan.client_model = std::string(Sv(*model));

    if (const json::value* s = Field(*req, "stream")) {
        if (!s->is_bool()) { return Bad("stream: must be a boolean"); }
        plan.stream = s->get_bool();
    }
    if (const json::object* so = ObjectField(*req, "stream_options")) {
        if (const json::value* iu = Field(*so, "include_usage")) {
            if (!iu->is_bool()) { return Bad("stream_options.include_usage: must be a boolean"); }
            plan.include_usage = iu->get_bool();
        }
    }

    if (const json::value* n = Field(*req, "n")) {
        auto nv = AsInt(*n);
        if (!nv || *nv != 1) { return Bad("n: only n=1 is supported"); }
    }

    // messages
    const json::value* mv = Field(*req, "messages");
    if (!mv) { return Bad("messages: required"); }
    const json::array* msgs = mv->if_array();
    if (!msgs) { return Bad("messages: must be an array"); }
    if (msgs->empty()) { return Bad("messages: must contain at least one message"); }
    MessageConverter conv;
    if (auto e = conv.Run(*msgs)) { return e; }

    // max_tokens
    int64_t max_tokens = default_max_tokens;
    for (const char* key : {"max_completion_tokens", "max_tokens"}) {
        if (const json::value* v = Field(*req, key)) {
            auto iv = AsInt(*v);
            if (!iv || *iv <= 0) { return Bad(std::string(key) + ": must be a positive integer"); }
            max_tokens = *iv;
            break;
        }
    }

    // tools
    json::array tools;
    if (const json::value* tv = Field(*req, "tools")) {
        const json::array* arr = tv->if_array();
        if (!arr) { return Bad("tools: must be an array"); }
        for (size_t i = 0; i < arr->size(); ++i) {
            const std::string path = "tools[" + std::to_string(i) + "]";
            const json::object* t = (*arr)[i].if_object();
            if (!t) { return Bad(path + ": must be an object"); }
            const json::string* type = StringField(*t, "type");
            if (type && *type != "function") {
                return Bad(path + ".type: \"" + std::string(Sv(*type)) +
                           "\" tools are not supported on this model (function tools only)");
            }
            const json::object* fn = ObjectField(*t, "function");
            if (!fn) { return Bad(path + ".function: required object"); }
            if (auto e = ConvertFunction(*fn, path + ".function", tools)) { return e; }
        }
    } else if (const json::value* fv = Field(*req, "functions")) {  // legacy
        const json::array* arr = fv->if_array();
        if (!arr) { return Bad("functions: must be an array"); }
        for (size_t i = 0; i < arr->size(); ++i) {
            const std::string path = "functions[" + std::to_string(i) + "]";
            const json::object* fn = (*arr)[i].if_object();
            if (!fn) { return Bad(path + ": must be an object"); }
            if (auto e = ConvertFunction(*fn, path, tools)) { return e; }
        }
    }

    std::optional<json::object> choice;
    std::optional<std::vector<std::string>> allowed;
    if (const json::value* tc = Field(*req, "tool_choice")) {
        if (auto e = ConvertToolChoice(*tc, "tool_choice", choice, allowed)) { return e; }
    } else if (const json::value* fc = Field(*req, "function_call")) {
        if (auto e = ConvertToolChoice(*fc, "function_call", choice, allowed)) { return e; }
    }
    if (allowed) {
        json::array kept;
        for (auto& t : tools) {
            const auto name = Sv(t.get_object().at("name").get_string());
            if (std::find(allowed->begin(), allowed->end(), name) != allowed->end()) { kept.push_back(std::move(t)); }
        }
        if (kept.empty()) { return Bad("tool_choice.allowed_tools.tools: names none of the request's tools"); }
        tools = std::move(kept);
    }
    if (const json::value* ptc = Field(*req, "parallel_tool_calls")) {
        if (!ptc->is_bool()) { return Bad("parallel_tool_calls: must be a boolean"); }
        if (!ptc->get_bool() && !tools.empty()) {
            if (!choice) { choice = json::object{{"type", "auto"}}; }
            if ((*choice)["type"] != "none") { (*choice)["disable_parallel_tool_use"] = true; }
        }
    }

    // thinking
    std::optional<json::object> thinking;
    if (const json::value* th = Field(*req, "thinking")) {
        const json::object* o = th->if_object();
        if (!o) { return Bad("thinking: must be an object"); }
        thinking = *o;
    } else if (const json::value* re = Field(*req, "reasoning_effort")) {
        const json::string* effort = re->if_string();
        if (!effort) { return Bad("reasoning_effort: must be a string"); }
        if (*effort != "none") {
            auto budget = BudgetForEffort(Sv(*effort));
            if (!budget) {
                return Bad("reasoning_effort: unsupported value \"" + std::string(Sv(*effort)) +
                           "\" (none, minimal, low, medium, high, xhigh or max)");
            }
            // Anthropic refuses thinking while tool_choice forces a tool: the forced tool wins.
            const bool forced = !tools.empty() && choice && ((*choice)["type"] == "any" || (*choice)["type"] == "tool");
            if (!forced) { thinking = json::object{{"type", "enabled"}, {"budget_tokens", *budget}}; }
        }
    }
    bool thinking_on = false;
    if (thinking) {
        const json::string* type = StringField(*thinking, "type");
        thinking_on = type && (*type == "enabled" || *type == "adaptive");
        if (type && *type == "enabled") {
            if (const json::value* b = Field(*thinking, "budget_tokens")) {
                if (auto budget = AsInt(*b); budget && max_tokens <= *budget) { max_tokens = *budget + 1024; }
            }
        }
    }

    // sampling
    std::optional<double> temperature;
    std::optional<double> top_p;
    std::optional<int64_t> top_k;
    if (const json::value* v = Field(*req, "temperature")) {
        temperature = AsNumber(*v);
        if (!temperature) { return Bad("temperature: must be a number"); }
        temperature = std::clamp(*temperature, 0.0, 1.0);
    }
    if (const json::value* v = Field(*req, "top_p")) {
        top_p = AsNumber(*v);
        if (!top_p) { return Bad("top_p: must be a number"); }
    }
    if (const json::value* v = Field(*req, "top_k")) {
        top_k = AsInt(*v);
        if (!top_k || *top_k < 0) { return Bad("top_k: must be a non-negative integer"); }
    }
    if (thinking_on) {
        if (temperature && *temperature != 1.0) { temperature.reset(); }
        if (top_p && *top_p < 0.95) { top_p.reset(); }
        top_k.reset();
    }

    // stop
    json::array stops;
    if (const json::value* sv = Field(*req, "stop")) {
        if (const json::string* s = sv->if_string()) {
            if (!IsBlank(Sv(*s))) { stops.push_back(*s); }
        } else if (const json::array* arr = sv->if_array()) {
            for (const auto& e : *arr) {
                const json::string* item = e.if_string();
                if (!item) { return Bad("stop: must be a string or an array of strings"); }
                if (!IsBlank(Sv(*item))) { stops.push_back(*item); }
            }
        } else {
            return Bad("stop: must be a string or an array of strings");
        }
    }

    const json::string* user = StringField(*req, "safety_identifier");
    if (!user || user->empty()) { user = StringField(*req, "user"); }

    std::optional<json::object> format;
    if (const json::object* rf = ObjectField(*req, "response_format")) {
        const json::string* type = StringField(*rf, "type");
        if (type && *type == "json_schema") {
            const json::object* js = ObjectField(*rf, "json_schema");
            const json::object* schema = js ? ObjectField(*js, "schema") : nullptr;
            if (schema) { format = json::object{{"type", "json_schema"}, {"schema", *schema}}; }
        }
    }

    // assemble
    json::object out;
    out["model"] = json::string_view(upstream_model.data(), upstream_model.size());
    out["max_tokens"] = max_tokens;
    if (std::string system = conv.System(); !system.empty()) { out["system"] = system; }
    out["messages"] = conv.Messages();
    if (!tools.empty()) {
        out["tools"] = std::move(tools);
        if (choice) { out["tool_choice"] = std::move(*choice); }
    }
    if (thinking) { out["thinking"] = std::move(*thinking); }
    if (temperature) { out["temperature"] = *temperature; }
    if (top_p) { out["top_p"] = *top_p; }
    if (top_k) { out["top_k"] = *top_k; }
    if (!stops.empty()) { out["stop_sequences"] = std::move(stops); }
    if (user && !user->empty()) { out["metadata"] = json::object{{"user_id", *user}}; }
    if (format) { out["output_config"] = json::object{{"format", std::move(*format)}}; }
    out["stream"] = plan.stream;
    anthropic_body = json::serialize(out);
    return std::nullopt;
}

std::string_view FinishReason(std::string_view stop_reason) {
    if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded") { return "length"; }
    if (stop_reason == "tool_use") { return "tool_calls"; }
    if (stop_reason == "refusal") { return "content_filter"; }
    return "stop";  // end_turn, stop_sequence, pause_turn, unknown
}

json::object ChatUsage(int64_t input, int64_t cache_read, int64_t cache_creation, int64_t output,
                       std::optional<int64_t> reasoning) {
    const int64_t prompt = input + cache_read + cache_creation;
    json::object details{{"cached_tokens", cache_read}};
    if (cache_creation > 0) { details["cache_write_tokens"] = cache_creation; }
    json::object u{{"prompt_tokens", prompt},
                   {"completion_tokens", output},
                   {"total_tokens", prompt + output},
                   {"prompt_tokens_details", std::move(details)}};
    if (reasoning) { u["completion_tokens_details"] = json::object{{"reasoning_tokens", *reasoning}}; }
    return u;
}

std::optional<int64_t> ThinkingTokens(const json::object& usage) {
    if (const json::object* d = ObjectField(usage, "output_tokens_details")) {
        if (const json::value* t = Field(*d, "thinking_tokens")) { return AsInt(*t); }
    }
    return std::nullopt;
}

}  // namespace

std::optional<TranslateError> FromChatRequest(std::string_view openai_body, std::string_view upstream_model,
                                              int64_t default_max_tokens, std::string& anthropic_body,
                                              FrontPlan& plan) {
    try {
        return Translate(openai_body, upstream_model, default_max_tokens, anthropic_body, plan);
    } catch (const std::exception& e) {
        return TranslateError{500, std::string("request translation failed: ") + e.what()};
    }
}

std::string MessageToChatCompletion(std::string_view message_json, const FrontPlan& plan, int64_t now_unix_s) {
    try {
        auto parsed = ParseJson(message_json);
        const json::object* msg = parsed ? parsed->if_object() : nullptr;
        if (!msg) { return ChatErrorJson("api_error", "the upstream returned a message that is not a JSON object"); }

        std::string text;
        bool has_text = false;
        std::string reasoning;
        bool has_reasoning = false;
        json::array tool_calls;
        if (const json::value* content = Field(*msg, "content"); content && content->is_array()) {
            for (const auto& b : content->get_array()) {
                const json::object* block = b.if_object();
                const json::string* type = block ? StringField(*block, "type") : nullptr;
                if (!type) { continue; }
                if (*type == "text") {
                    if (const json::string* t = StringField(*block, "text")) {
                        text += Sv(*t);
                        has_text = true;
                    }
                } else if (*type == "thinking") {
                    if (const json::string* t = StringField(*block, "thinking")) {
                        reasoning += Sv(*t);
                        has_reasoning = true;
                    }
                } else if (*type == "tool_use") {
                    const json::string* id = StringField(*block, "id");
                    const json::string* name = StringField(*block, "name");
                    const json::value* input = Field(*block, "input");
                    tool_calls.push_back(json::object{
                        {"id", id ? *id : json::string()},
                        {"type", "function"},
                        {"function", json::object{{"name", name ? *name : json::string()},
                                                  {"arguments", input ? json::serialize(*input) : "{}"}}}});
                }
            }
        }

        json::object message{{"role", "assistant"}};
        if (has_text) {
            message["content"] = text;
        } else {
            message["content"] = nullptr;
        }
        message["refusal"] = nullptr;
        if (plan.reasoning_out && has_reasoning) { message["reasoning_content"] = reasoning; }
        if (!tool_calls.empty()) { message["tool_calls"] = std::move(tool_calls); }

        const json::string* stop = StringField(*msg, "stop_reason");
        json::object choice{{"index", 0},
                            {"message", std::move(message)},
                            {"logprobs", nullptr},
                            {"finish_reason", FinishReason(stop ? Sv(*stop) : "end_turn")}};

        const json::string* id = StringField(*msg, "id");
        json::object out{{"id", "chatcmpl-" + std::string(id ? Sv(*id) : "")},
                         {"object", "chat.completion"},
                         {"created", now_unix_s},
                         {"model", ValidUtf8(plan.client_model)},
                         {"choices", json::array{std::move(choice)}}};
        if (const json::object* u = ObjectField(*msg, "usage")) {
            out["usage"] = ChatUsage(IntField(*u, "input_tokens"), IntField(*u, "cache_read_input_tokens"),
                                     IntField(*u, "cache_creation_input_tokens"), IntField(*u, "output_tokens"),
                                     ThinkingTokens(*u));
        }
        return json::serialize(out);
    } catch (const std::exception&) {
        return ChatErrorJson("api_error", "the upstream message could not be translated");
    }
}

// ---- streaming --------------------------------------------------------------------------------

MessagesToChatStream::MessagesToChatStream(FrontPlan plan, int64_t now_unix_s)
    : plan_(std::move(plan)), created_(now_unix_s) {
    plan_.client_model = ValidUtf8(plan_.client_model);
}

void MessagesToChatStream::Start(std::string_view msg_id, std::string& out) {
    meta_ = R"({"id":)";
    api::AppendJsonString(meta_, "chatcmpl-" + std::string(msg_id));
    meta_ += R"(,"object":"chat.completion.chunk","created":)";
    meta_ += std::to_string(created_);
    meta_ += R"(,"model":)";
    api::AppendJsonString(meta_, plan_.client_model);
    started_ = true;
    Chunk(R"({"role":"assistant","content":""})", "null", out);
}

void MessagesToChatStream::Chunk(std::string_view delta_json, std::string_view finish_json, std::string& out) const {
    out += "data: ";
    out += meta_;
    out += R"(,"choices":[{"index":0,"delta":)";
    out += delta_json;
    out += R"(,"logprobs":null,"finish_reason":)";
    out += finish_json;
    out += "}]";
    if (plan_.include_usage) { out += R"(,"usage":null)"; }
    out += "}\n\n";
}

void MessagesToChatStream::Finish(std::string_view reason, std::string& out) {
    if (finished_) { return; }
    finished_ = true;
    Chunk("{}", JsonString(reason), out);
}

void MessagesToChatStream::Error(std::string_view type, std::string_view message, std::string& out) {
    out += "data: ";
    out += ChatErrorJson(type, message);
    out += "\n\n";
    done_ = true;
}

int MessagesToChatStream::ToolIndexOf(int64_t block_index) const {
    for (const auto& [index, k] : tool_blocks_) {
        if (index == block_index) { return k; }
    }
    return -1;
}

void MessagesToChatStream::OnEvent(std::string_view name, std::string_view data, std::string& out) {
    if (done_) { return; }
    try {
        auto parsed = ParseJson(data);
        const json::object* ev = parsed ? parsed->if_object() : nullptr;
        std::string type(name);
        if (type.empty() && ev) {
            if (const json::string* t = StringField(*ev, "type")) { type = Sv(*t); }
        }
        if (type == "error") {
            const json::object* err = ev ? ObjectField(*ev, "error") : nullptr;
            const json::string* et = err ? StringField(*err, "type") : nullptr;
            const json::string* em = err ? StringField(*err, "message") : nullptr;
            Error(et ? Sv(*et) : "api_error", em ? Sv(*em) : "the upstream stream failed", out);
            return;
        }
        if (type == "ping" || (!ev && type != "message_stop")) { return; }  // message_stop needs no data

        if (type == "message_start") {
            const json::object* msg = ObjectField(*ev, "message");
            if (!msg) { return; }
            if (const json::object* u = ObjectField(*msg, "usage")) {
                input_tokens_ = IntField(*u, "input_tokens");
                cache_read_ = IntField(*u, "cache_read_input_tokens");
                cache_creation_ = IntField(*u, "cache_creation_input_tokens");
                output_tokens_ = IntField(*u, "output_tokens");
            }
            if (!started_) {
                const json::string* id = StringField(*msg, "id");
                Start(id ? Sv(*id) : "", out);
            }
            return;
        }
        if (type != "content_block_start" && type != "content_block_delta" && type != "message_delta" &&
            type != "message_stop") {
            return;  // content_block_stop, unknown events
        }
        if (!started_) { Start("", out); }

        if (type == "content_block_start") {
            const json::value* iv = Field(*ev, "index");
            const json::object* block = ObjectField(*ev, "content_block");
            const json::string* bt = block ? StringField(*block, "type") : nullptr;
            if (!iv || !bt) { return; }
            const auto index = AsInt(*iv);
            if (!index) { return; }
            if (*bt == "tool_use") {
                const json::string* id = StringField(*block, "id");
                const json::string* tool = StringField(*block, "name");
                const int k = tool_count_++;
                tool_blocks_.emplace_back(*index, k);
                std::string delta = R"({"tool_calls":[{"index":)" + std::to_string(k) + R"(,"id":)";
                api::AppendJsonString(delta, id ? Sv(*id) : "");
                delta += R"(,"type":"function","function":{"name":)";
                api::AppendJsonString(delta, tool ? Sv(*tool) : "");
                delta += R"(,"arguments":""}}]})";
                Chunk(delta, "null", out);
            } else if (*bt == "text") {
                if (const json::string* t = StringField(*block, "text"); t && !t->empty()) {
                    Chunk(R"({"content":)" + JsonString(Sv(*t)) + "}", "null", out);
                }
            } else if (*bt == "thinking" && plan_.reasoning_out) {
                if (const json::string* t = StringField(*block, "thinking"); t && !t->empty()) {
                    Chunk(R"({"reasoning_content":)" + JsonString(Sv(*t)) + "}", "null", out);
                }
            }
            return;
        }
        if (type == "content_block_delta") {
            const json::object* delta = ObjectField(*ev, "delta");
            const json::string* dt = delta ? StringField(*delta, "type") : nullptr;
            if (!dt) { return; }
            if (*dt == "text_delta") {
                if (const json::string* t = StringField(*delta, "text"); t && !t->empty()) {
                    Chunk(R"({"content":)" + JsonString(Sv(*t)) + "}", "null", out);
                }
            } else if (*dt == "thinking_delta") {
                if (!plan_.reasoning_out) { return; }
                if (const json::string* t = StringField(*delta, "thinking"); t && !t->empty()) {
                    Chunk(R"({"reasoning_content":)" + JsonString(Sv(*t)) + "}", "null", out);
                }
            } else if (*dt == "input_json_delta") {
                const json::value* iv = Field(*ev, "index");
                const auto index = iv ? AsInt(*iv) : std::nullopt;
                const int k = index ? ToolIndexOf(*index) : -1;
                const json::string* pj = StringField(*delta, "partial_json");
                if (k < 0 || !pj || pj->empty()) { return; }  // server tools, empty first slices
                std::string d = R"({"tool_calls":[{"index":)" + std::to_string(k) + R"(,"function":{"arguments":)";
                api::AppendJsonString(d, Sv(*pj));
                d += "}}]}";
                Chunk(d, "null", out);
            }
            return;  // signature_delta, citations_delta, unknown deltas
        }
        if (type == "message_delta") {
            if (const json::object* delta = ObjectField(*ev, "delta")) {
                if (const json::string* sr = StringField(*delta, "stop_reason")) { stop_reason_ = Sv(*sr); }
            }
            if (const json::object* u = ObjectField(*ev, "usage")) {
                // Cumulative counts: each non-null field replaces the earlier value.
                if (Field(*u, "input_tokens")) { input_tokens_ = IntField(*u, "input_tokens"); }
                if (Field(*u, "cache_read_input_tokens")) { cache_read_ = IntField(*u, "cache_read_input_tokens"); }
                if (Field(*u, "cache_creation_input_tokens")) {
                    cache_creation_ = IntField(*u, "cache_creation_input_tokens");
                }
                if (Field(*u, "output_tokens")) { output_tokens_ = IntField(*u, "output_tokens"); }
                if (auto r = ThinkingTokens(*u)) { reasoning_tokens_ = r; }
            }
            Finish(FinishReason(stop_reason_), out);
            return;
        }
        // message_stop
        Finish(FinishReason(stop_reason_), out);
        if (plan_.include_usage) {
            out += "data: ";
            out += meta_;
            out += R"(,"choices":[],"usage":)";
            out += json::serialize(ChatUsage(input_tokens_, cache_read_, cache_creation_, output_tokens_,
                                             reasoning_tokens_));
            out += "}\n\n";
        }
        out += "data: [DONE]\n\n";
        done_ = true;
    } catch (const std::exception&) {
        // A malformed event is skipped.
    }
}

void MessagesToChatStream::Fail(std::string_view type, std::string_view message, std::string& out) {
    if (done_) { return; }
    Error(type.empty() ? "api_error" : type, message, out);
}

// ---- errors -----------------------------------------------------------------------------------

std::string ChatErrorJson(std::string_view type, std::string_view message) {
    std::string out = R"({"error":{"message":)";
    api::AppendJsonString(out, ValidUtf8(message));
    out += R"(,"type":)";
    api::AppendJsonString(out, ValidUtf8(type));
    out += R"(,"param":null,"code":null}})";
    return out;
}

std::string AnthropicErrorToChat(int status, std::string_view anthropic_body) {
    api::ErrorBody body;
    try {
        body = api::ParseErrorBody(anthropic_body);
    } catch (const std::exception&) {
        body = {};
    }
    std::string type = body.type.empty() ? std::string(api::ErrorTypeForStatus(status)) : body.type;
    std::string message =
        body.message.empty() ? "the upstream answered HTTP " + std::to_string(status) : body.message;
    return ChatErrorJson(type, message);
}

}  // namespace clove::translate
