#include "clove/translate/tool_emulation.hpp"

#include <algorithm>
#include <utility>

#include <boost/json.hpp>

namespace clove::translate {
namespace {

namespace json = boost::json;

constexpr std::string_view kOpenTag = "<function_calls>";
constexpr std::string_view kCloseTag = "</function_calls>";
constexpr std::string_view kInvokeOpen = "<invoke";
constexpr std::string_view kInvokeClose = "</invoke>";
constexpr std::string_view kParamOpen = "<parameter";
constexpr std::string_view kParamClose = "</parameter>";

// JSON type bits of a schema.
constexpr unsigned kTString = 1;
constexpr unsigned kTNumber = 2;
constexpr unsigned kTInteger = 4;
constexpr unsigned kTBoolean = 8;
constexpr unsigned kTArray = 16;
constexpr unsigned kTObject = 32;
constexpr unsigned kTNull = 64;

struct Entity {
    std::string_view name;  // without '&', with ';'
    char ch;
};
constexpr Entity kEntities[] = {{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool At(std::string_view s, std::size_t pos, std::string_view what) {
    return pos <= s.size() && s.substr(pos).substr(0, what.size()) == what;
}

void SkipSpace(std::string_view s, std::size_t& pos) {
    while (pos < s.size() && IsSpace(s[pos])) ++pos;
}

std::string_view Trim(std::string_view s) {
    while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
    while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
    return s;
}

std::string DecodeEntities(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '&') {
            bool done = false;
            for (const Entity& e : kEntities) {
                if (At(s, i + 1, e.name)) {
                    out.push_back(e.ch);
                    i += e.name.size();
                    done = true;
                    break;
                }
            }
            if (done) continue;
        }
        out.push_back(s[i]);
    }
    return out;
}

// Minimal escaping of a parameter value so that DecodeEntities gives it back and the value cannot
// close an element: `&` only when it would start an entity, `<` only before `/`.
std::string EscapeValue(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '&') {
            bool entity_like = false;
            for (const Entity& e : kEntities) entity_like = entity_like || At(s, i + 1, e.name);
            out += entity_like ? "&amp;" : "&";
        } else if (c == '<' && i + 1 < s.size() && s[i + 1] == '/') {
            out += "&lt;";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::string EscapeAttr(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            default: out.push_back(c);
        }
    }
    return out;
}

bool IsNewline(std::string_view s, std::size_t pos, std::size_t& len) {
    if (At(s, pos, "\r\n")) {
        len = 2;
        return true;
    }
    if (pos < s.size() && s[pos] == '\n') {
        len = 1;
        return true;
    }
    return false;
}

// A rendered value: one extra newline at each end that already has one (the parser drops one).
std::string RenderValue(std::string_view text) {
    std::string v = EscapeValue(text);
    std::size_t nl = 0;
    if (IsNewline(v, 0, nl)) v.insert(v.begin(), '\n');
    if (!v.empty() && v.back() == '\n') v.push_back('\n');
    return v;
}

json::parse_options LenientJson() {
    json::parse_options opt;
    opt.allow_comments = true;
    opt.allow_trailing_commas = true;
    return opt;
}

bool ParseJson(std::string_view text, json::value& out) {
    boost::system::error_code ec;
    json::value v = json::parse(json::string_view(text.data(), text.size()), ec, json::storage_ptr(), LenientJson());
    if (ec) return false;
    out = std::move(v);
    return true;
}

unsigned TypeBit(std::string_view t) {
    if (t == "string") return kTString;
    if (t == "number") return kTNumber;
    if (t == "integer") return kTInteger;
    if (t == "boolean") return kTBoolean;
    if (t == "array") return kTArray;
    if (t == "object") return kTObject;
    if (t == "null") return kTNull;
    return 0;
}

unsigned KindBit(const json::value& v) {
    switch (v.kind()) {
        case json::kind::string: return kTString;
        case json::kind::int64:
        case json::kind::uint64: return kTInteger;
        case json::kind::double_: return kTNumber;
        case json::kind::bool_: return kTBoolean;
        case json::kind::array: return kTArray;
        case json::kind::object: return kTObject;
        case json::kind::null: return kTNull;
    }
    return 0;
}

unsigned SchemaTypes(const json::value& schema, int depth) {
    const json::object* obj = schema.if_object();
    if (obj == nullptr || depth > 8) return 0;
    unsigned bits = 0;
    if (const json::value* t = obj->if_contains("type")) {
        if (const json::string* s = t->if_string()) {
            bits |= TypeBit(*s);
        } else if (const json::array* a = t->if_array()) {
            for (const json::value& e : *a) {
                if (const json::string* es = e.if_string()) bits |= TypeBit(*es);
            }
        }
    }
    for (std::string_view key : {"anyOf", "oneOf", "allOf"}) {
        if (const json::value* sub = obj->if_contains(key)) {
            if (const json::array* a = sub->if_array()) {
                for (const json::value& e : *a) bits |= SchemaTypes(e, depth + 1);
            }
        }
    }
    if (bits == 0) {
        if (const json::value* en = obj->if_contains("enum")) {
            if (const json::array* a = en->if_array()) {
                for (const json::value& e : *a) bits |= KindBit(e);
            }
        }
        if (const json::value* c = obj->if_contains("const")) bits |= KindBit(*c);
    }
    return bits;
}

// A parameter value (raw text between the tags) -> its JSON value.
json::value CoerceParam(std::string_view raw, unsigned types) {
    std::size_t nl = 0;
    if (IsNewline(raw, 0, nl)) raw.remove_prefix(nl);
    if (!raw.empty() && raw.back() == '\n') {
        raw.remove_suffix(1);
        if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    }
    std::string text = DecodeEntities(raw);
    if (types == kTString) return json::value(text);
    json::value parsed;
    if (Trim(text).empty() || !ParseJson(text, parsed)) return json::value(text);
    unsigned kind = KindBit(parsed);
    if (types == 0) {
        if (kind == kTArray || kind == kTObject) return parsed;
        return json::value(text);
    }
    if ((types & kTString) != 0) {
        bool fits = (kind & types) != 0 || (kind == kTInteger && (types & kTNumber) != 0) ||
                    (kind == kTNumber && (types & kTInteger) != 0);
        if (fits && kind != kTString && kind != kTNull) return parsed;
        return json::value(text);
    }
    return parsed;
}

struct Attr {
    std::string name;
    std::string value;
};

// Attributes of a start tag from `pos` (just after the element name) through its '>' or '/>'.
bool ParseAttrs(std::string_view s, std::size_t& pos, std::vector<Attr>& attrs, bool& self_closing) {
    for (;;) {
        SkipSpace(s, pos);
        if (pos >= s.size()) return false;
        if (s[pos] == '>') {
            ++pos;
            self_closing = false;
            return true;
        }
        if (At(s, pos, "/>")) {
            pos += 2;
            self_closing = true;
            return true;
        }
        std::size_t start = pos;
        while (pos < s.size()) {
            char c = s[pos];
            bool name_char = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                             c == '-' || c == ':' || c == '.';
            if (!name_char) break;
            ++pos;
        }
        if (pos == start) return false;
        Attr attr{std::string(s.substr(start, pos - start)), {}};
        SkipSpace(s, pos);
        if (pos >= s.size() || s[pos] != '=') return false;
        ++pos;
        SkipSpace(s, pos);
        if (pos >= s.size() || (s[pos] != '"' && s[pos] != '\'')) return false;
        char quote = s[pos++];
        std::size_t end = s.find(quote, pos);
        if (end == std::string_view::npos) return false;
        attr.value = DecodeEntities(s.substr(pos, end - pos));
        pos = end + 1;
        attrs.push_back(std::move(attr));
    }
}

const std::string* FindAttr(const std::vector<Attr>& attrs, std::string_view name) {
    for (const Attr& a : attrs) {
        if (a.name == name) return &a.value;
    }
    return nullptr;
}

// An element name followed by whitespace, '>' or '/>'.
bool AtElement(std::string_view s, std::size_t pos, std::string_view open) {
    if (!At(s, pos, open)) return false;
    std::size_t p = pos + open.size();
    return p < s.size() && (IsSpace(s[p]) || s[p] == '>' || s[p] == '/');
}

struct ParsedCall {
    std::string name;
    std::string input_json;
};

// One <invoke> element at `pos`; `next` is just after it.
bool ParseInvoke(std::string_view s, std::size_t pos, const ToolCallParser::TypeMap& types, ParsedCall& call,
                 std::size_t& next) {
    if (!AtElement(s, pos, kInvokeOpen)) return false;
    std::size_t p = pos + kInvokeOpen.size();
    std::vector<Attr> attrs;
    bool self_closing = false;
    if (!ParseAttrs(s, p, attrs, self_closing)) return false;
    const std::string* name = FindAttr(attrs, "name");
    if (name == nullptr || Trim(*name).empty()) return false;
    call.name = *name;
    json::object input;
    if (self_closing) {
        call.input_json = json::serialize(input);
        next = p;
        return true;
    }
    const std::unordered_map<std::string, unsigned>* param_types = nullptr;
    if (auto it = types.find(call.name); it != types.end()) param_types = &it->second;

    SkipSpace(s, p);
    if (p < s.size() && s[p] == '{') {
        // A JSON object as the whole input: the first `</invoke>` after which it parses.
        std::size_t search = p;
        for (;;) {
            std::size_t q = s.find(kInvokeClose, search);
            if (q == std::string_view::npos) return false;
            std::string_view body = Trim(s.substr(p, q - p));
            json::value v;
            if ((ParseJson(body, v) && v.is_object()) || (ParseJson(DecodeEntities(body), v) && v.is_object())) {
                call.input_json = json::serialize(v);
                next = q + kInvokeClose.size();
                return true;
            }
            search = q + 1;
        }
    }
    while (AtElement(s, p, kParamOpen)) {
        p += kParamOpen.size();
        std::vector<Attr> pattrs;
        bool empty = false;
        if (!ParseAttrs(s, p, pattrs, empty)) return false;
        const std::string* pname = FindAttr(pattrs, "name");
        if (pname == nullptr || pname->empty()) return false;
        std::string_view raw;
        if (!empty) {
            std::size_t q = s.find(kParamClose, p);
            if (q == std::string_view::npos) return false;
            raw = s.substr(p, q - p);
            p = q + kParamClose.size();
        }
        unsigned bits = 0;
        if (param_types != nullptr) {
            if (auto it = param_types->find(*pname); it != param_types->end()) bits = it->second;
        }
        input[*pname] = CoerceParam(raw, bits);
        SkipSpace(s, p);
    }
    if (!At(s, p, kInvokeClose)) return false;
    call.input_json = json::serialize(input);
    next = p + kInvokeClose.size();
    return true;
}

// The content of a calls block (between the tags). Strict: only invokes and whitespace, at least
// one invoke. Lenient (unclosed block at the end of the output): the complete invokes before the
// first thing that does not parse, at least one.
bool ParseBlock(std::string_view s, bool lenient, const ToolCallParser::TypeMap& types,
                std::vector<ParsedCall>& calls) {
    std::size_t pos = 0;
    for (;;) {
        SkipSpace(s, pos);
        if (pos >= s.size()) break;
        ParsedCall call;
        std::size_t next = 0;
        if (!ParseInvoke(s, pos, types, call, next)) {
            if (lenient) break;
            calls.clear();
            return false;
        }
        calls.push_back(std::move(call));
        pos = next;
    }
    return !calls.empty();
}

// Length of an incomplete UTF-8 sequence at the end of `s` (0 when complete or invalid).
std::size_t IncompleteUtf8Tail(std::string_view s) {
    std::size_t n = s.size();
    for (std::size_t i = 1; i <= 3 && i <= n; ++i) {
        auto c = static_cast<unsigned char>(s[n - i]);
        if ((c & 0xC0) == 0x80) continue;
        std::size_t need = 1;
        if ((c & 0xE0) == 0xC0) {
            need = 2;
        } else if ((c & 0xF0) == 0xE0) {
            need = 3;
        } else if ((c & 0xF8) == 0xF0) {
            need = 4;
        }
        return need > i ? i : 0;
    }
    return 0;
}

// How many bytes at the end of the outside-block buffer must wait for more input.
std::size_t HoldBack(std::string_view s) {
    std::size_t n = s.size();
    std::size_t tag = 0;
    for (std::size_t k = std::min(n, kOpenTag.size() - 1); k > 0; --k) {
        if (s.substr(n - k) == kOpenTag.substr(0, k)) {
            tag = k;
            break;
        }
    }
    std::size_t hold = tag;
    if (tag == 0) {
        hold = IncompleteUtf8Tail(s);
        if (hold > 0) return hold;
    }
    while (hold < n && IsSpace(s[n - hold - 1])) ++hold;
    return hold;
}

void EmitText(std::vector<ToolPiece>& out, std::size_t first_new, std::string_view text) {
    if (text.empty()) return;
    if (out.size() > first_new && out.back().kind == ToolPiece::Kind::kText) {
        out.back().text.append(text);
        return;
    }
    ToolPiece piece;
    piece.text = std::string(text);
    out.push_back(std::move(piece));
}

void EmitCalls(std::vector<ToolPiece>& out, std::vector<ParsedCall>& calls) {
    for (ParsedCall& c : calls) {
        ToolPiece piece;
        piece.kind = ToolPiece::Kind::kToolCall;
        piece.name = std::move(c.name);
        piece.input_json = std::move(c.input_json);
        out.push_back(std::move(piece));
    }
}

std::string ResultText(const json::value& content) {
    if (const json::string* s = content.if_string()) return std::string(*s);
    if (content.is_null()) return {};
    const json::array* blocks = content.if_array();
    if (blocks == nullptr) return json::serialize(content);
    std::string out;
    bool first = true;
    for (const json::value& b : *blocks) {
        std::string part;
        if (const json::string* s = b.if_string()) {
            part = std::string(*s);
        } else if (const json::object* o = b.if_object()) {
            std::string_view type;
            if (const json::value* t = o->if_contains("type"); t != nullptr && t->is_string()) type = t->get_string();
            const json::value* text = o->if_contains("text");
            if (type == "image") {
                part = "[image]";
            } else if (type == "document") {
                part = "[document]";
            } else if (text != nullptr && text->is_string()) {
                part = std::string(text->get_string());
            } else if (!type.empty()) {
                part = "[" + std::string(type) + "]";
            } else {
                continue;
            }
        } else {
            continue;
        }
        if (!first) out.push_back('\n');
        out += part;
        first = false;
    }
    return out;
}

}  // namespace

std::string RenderToolInstructions(const json::array& tools, const json::value* tool_choice) {
    if (tools.empty()) return {};
    std::string mode = "auto";
    std::string forced;
    bool single = false;
    if (tool_choice != nullptr) {
        if (const json::string* s = tool_choice->if_string()) {
            mode = std::string(*s);
        } else if (const json::object* o = tool_choice->if_object()) {
            if (const json::value* t = o->if_contains("type"); t != nullptr && t->is_string()) {
                mode = std::string(t->get_string());
            }
            if (const json::value* n = o->if_contains("name"); n != nullptr && n->is_string()) {
                forced = std::string(n->get_string());
            }
            if (const json::value* d = o->if_contains("disable_parallel_tool_use"); d != nullptr && d->is_bool()) {
                single = d->get_bool();
            }
        }
    }
    if (mode == "none") return {};
    if (mode == "required") mode = "any";
    if (mode == "tool" && forced.empty()) mode = "any";
    if (mode != "any" && mode != "tool") mode = "auto";

    std::string out;
    out +=
        "# Tools\n\n"
        "You can call the tools listed below. To call tools, write a <function_calls> block in exactly "
        "this format:\n\n"
        "<function_calls>\n"
        "<invoke name=\"TOOL_NAME\">\n"
        "<parameter name=\"PARAMETER_NAME\">PARAMETER_VALUE</parameter>\n"
        "...\n"
        "</invoke>\n"
        "</function_calls>\n\n"
        "Rules:\n";
    if (single) {
        out += "- Call at most one tool per reply: the block holds exactly one <invoke> element.\n";
    } else {
        out += "- Each <invoke> element is one tool call; a block may hold several, which run in order.\n";
    }
    out +=
        "- Write one <parameter> element per top-level input field, named as in the tool's input schema. "
        "Write string values as plain text, as is, without quotes or escaping; write numbers, booleans, "
        "arrays and objects as JSON.\n"
        "- End your reply right after </function_calls>. Do not write any results yourself: they will be "
        "given back to you in a <function_results> block.\n";
    if (mode == "any") {
        out += "- You must call one of the tools in this reply.\n";
    } else if (mode == "tool") {
        out += "- You must call the tool \"" + forced + "\" in this reply.\n";
    } else {
        out += "- Write a <function_calls> block only when you want to call a tool; otherwise answer normally.\n";
    }
    out += "\nAvailable tools (each with the JSON Schema of its input):\n<functions>\n";
    for (const json::value& tool : tools) {
        const json::object* t = tool.if_object();
        if (t == nullptr) continue;
        const json::value* name = t->if_contains("name");
        if (name == nullptr || !name->is_string()) continue;
        json::object desc;
        desc["name"] = *name;
        if (const json::value* d = t->if_contains("description"); d != nullptr && d->is_string()) {
            desc["description"] = *d;
        }
        if (const json::value* s = t->if_contains("input_schema"); s != nullptr && s->is_object()) {
            desc["parameters"] = *s;
        } else {
            desc["parameters"] = json::object{{"type", "object"}};
        }
        out += "<function>" + json::serialize(desc) + "</function>\n";
    }
    out += "</functions>";
    return out;
}

std::string RenderToolUse(std::string_view id, std::string_view name, const json::value& input) {
    std::string out = "<function_calls>\n<invoke name=\"" + EscapeAttr(name) + "\"";
    if (!id.empty()) out += " id=\"" + EscapeAttr(id) + "\"";
    out += ">\n";
    if (const json::object* obj = input.if_object()) {
        for (const auto& kv : *obj) {
            std::string value;
            if (const json::string* s = kv.value().if_string()) {
                value = RenderValue(*s);
            } else {
                value = RenderValue(json::serialize(kv.value()));
            }
            out += "<parameter name=\"" + EscapeAttr(kv.key()) + "\">" + value + "</parameter>\n";
        }
    } else if (!input.is_null()) {
        out += EscapeValue(json::serialize(input)) + "\n";
    }
    out += "</invoke>\n</function_calls>";
    return out;
}

std::string RenderToolResult(std::string_view tool_use_id, const json::value& content, bool is_error) {
    std::string_view element = is_error ? "error" : "result";
    std::string out = "<function_results>\n<";
    out += element;
    out += " tool_use_id=\"" + EscapeAttr(tool_use_id) + "\">\n";
    std::string text = ResultText(content);
    if (!text.empty()) out += text + "\n";
    out += "</";
    out += element;
    out += ">\n</function_results>";
    return out;
}

std::string_view ToolCallsCloseTag() { return kCloseTag; }

ToolCallParser::ToolCallParser(const json::array& tools) {
    for (const json::value& tool : tools) {
        const json::object* t = tool.if_object();
        if (t == nullptr) continue;
        const json::value* name = t->if_contains("name");
        if (name == nullptr || !name->is_string()) continue;
        auto& params = types_[std::string(name->get_string())];
        const json::value* schema = t->if_contains("input_schema");
        if (schema == nullptr || !schema->is_object()) continue;
        const json::value* props = schema->get_object().if_contains("properties");
        if (props == nullptr || !props->is_object()) continue;
        for (const auto& kv : props->get_object()) params[std::string(kv.key())] = SchemaTypes(kv.value(), 0);
    }
}

void ToolCallParser::Feed(std::string_view text, std::vector<ToolPiece>& out) {
    if (text.empty()) return;
    std::size_t first_new = out.size();
    buf_.append(text);
    Drain(out, first_new);
}

void ToolCallParser::Drain(std::vector<ToolPiece>& out, std::size_t first_new) {
    for (;;) {
        if (!in_block_) {
            if (skip_ws_) {
                std::size_t i = 0;
                while (i < buf_.size() && IsSpace(buf_[i])) ++i;
                buf_.erase(0, i);
                if (buf_.empty()) return;
                skip_ws_ = false;
            }
            std::size_t p = buf_.find(kOpenTag);
            if (p != std::string::npos) {
                std::size_t e = p;
                while (e > 0 && IsSpace(buf_[e - 1])) --e;
                EmitText(out, first_new, std::string_view(buf_).substr(0, e));
                pending_ws_ = buf_.substr(e, p - e);
                buf_.erase(0, p + kOpenTag.size());
                in_block_ = true;
                scan_pos_ = 0;
                continue;
            }
            std::size_t hold = HoldBack(buf_);
            if (hold < buf_.size()) {
                EmitText(out, first_new, std::string_view(buf_).substr(0, buf_.size() - hold));
                buf_.erase(0, buf_.size() - hold);
            }
            return;
        }
        std::size_t q = buf_.find(kCloseTag, scan_pos_);
        if (q == std::string::npos) {
            scan_pos_ = buf_.size() >= kCloseTag.size() ? buf_.size() - kCloseTag.size() + 1 : 0;
            return;
        }
        std::string_view content = std::string_view(buf_).substr(0, q);
        std::vector<ParsedCall> calls;
        if (ParseBlock(content, false, types_, calls)) {
            EmitCalls(out, calls);
            saw_tool_call_ = true;
            skip_ws_ = true;
        } else {
            std::string text = pending_ws_;
            text.append(kOpenTag).append(content).append(kCloseTag);
            EmitText(out, first_new, text);
        }
        pending_ws_.clear();
        buf_.erase(0, q + kCloseTag.size());
        in_block_ = false;
        scan_pos_ = 0;
    }
}

void ToolCallParser::Finish(std::vector<ToolPiece>& out) {
    std::size_t first_new = out.size();
    if (in_block_) {
        std::vector<ParsedCall> calls;
        if (ParseBlock(buf_, true, types_, calls)) {
            EmitCalls(out, calls);
            saw_tool_call_ = true;
        } else {
            std::string text = pending_ws_;
            text.append(kOpenTag).append(buf_);
            EmitText(out, first_new, text);
        }
    } else {
        EmitText(out, first_new, buf_);
    }
    buf_.clear();
    pending_ws_.clear();
    in_block_ = false;
    skip_ws_ = false;
    scan_pos_ = 0;
}

}  // namespace clove::translate
