#include "clove/tokenizer/estimate.hpp"

#include <simdjson.h>

#include <algorithm>
#include <string>

#include "clove/tokenizer/bpe.hpp"

namespace clove::tokenizer {
namespace {

namespace dom = simdjson::dom;
using C = EstimateConstants;

/// Nesting below which unknown JSON is still walked (simdjson itself stops at 1024).
constexpr int kMaxWalkDepth = 64;

std::string_view StringField(dom::object o, std::string_view key) {
    std::string_view v;
    if (o[key].get_string().get(v) != simdjson::SUCCESS) return {};
    return v;
}

bool Field(dom::object o, std::string_view key, dom::element& out) {
    return o[key].get(out) == simdjson::SUCCESS;
}

int Base64Value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

bool PdfSpace(char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\0';
}

/// Counts "/Type /Page" objects (not /Pages, /PageLabels, ...) whose "/Page" starts at or after
/// `from`. Unless `final`, a "/Page" at the very end (next byte unknown) is left for the next call.
size_t CountPageObjects(std::string_view pdf, size_t from, bool final) {
    size_t pages = 0;
    for (size_t at = pdf.find("/Page", from); at != std::string_view::npos; at = pdf.find("/Page", at + 5)) {
        const size_t after = at + 5;
        if (after >= pdf.size() && !final) break;
        if (after < pdf.size()) {
            const char c = pdf[after];
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) continue;
        }
        size_t before = at;
        while (before > 0 && PdfSpace(pdf[before - 1])) --before;
        if (before >= 5 && pdf.substr(before - 5, 5) == "/Type") ++pages;
    }
    return pages;
}

/// Pages of a base64 PDF: decoded in 64 KiB windows (never the whole file at once), each window
/// keeping the previous one's last bytes so a marker across the boundary is seen once.
int64_t PdfPages(std::string_view base64) {
    constexpr size_t kChunk = 64 * 1024;
    constexpr size_t kKeep = 32;  // "/Type" + whitespace + "/Page" + one byte fit in it
    std::string window;
    window.reserve(kChunk + kKeep);
    size_t pages = 0, decoded = 0, from = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (const char ch : base64) {
        const int v = Base64Value(static_cast<unsigned char>(ch));
        if (v < 0) continue;  // padding, line breaks
        acc = acc << 6 | static_cast<uint32_t>(v);
        bits += 6;
        if (bits < 8) continue;
        bits -= 8;
        window.push_back(static_cast<char>((acc >> bits) & 0xff));
        ++decoded;
        if (window.size() == kChunk + kKeep) {
            pages += CountPageObjects(window, from, false);
            window.erase(0, window.size() - kKeep);
            from = kKeep - 5;  // every "/Page" starting before this was decided
        }
    }
    pages += CountPageObjects(window, from, true);
    if (pages == 0) pages = std::max<size_t>(1, decoded / C::kPdfBytesPerPage);
    return static_cast<int64_t>(pages);
}

/// Counts text exactly up to C::kExactTextBytes per request, and beyond that extrapolates at the
/// tokens-per-byte ratio seen so far: bounded CPU for bodies no model could take anyway.
class TextCounter {
public:
    explicit TextCounter(const Bpe& bpe) : bpe_(bpe) {}

    int64_t Count(std::string_view s) {
        if (s.empty()) return 0;
        std::string_view head = s.substr(0, C::kExactTextBytes - std::min(exact_bytes_, C::kExactTextBytes));
        while (!head.empty() && head.size() < s.size() && (static_cast<unsigned char>(s[head.size()]) & 0xc0) == 0x80) {
            head.remove_suffix(1);  // cut at a UTF-8 boundary
        }
        int64_t n = 0;
        if (!head.empty()) {
            n = static_cast<int64_t>(bpe_.Count(head));
            exact_bytes_ += head.size();
            exact_tokens_ += static_cast<size_t>(n);
        }
        if (const size_t rest = s.size() - head.size(); rest > 0) {
            n += exact_bytes_ == 0 ? static_cast<int64_t>((rest + 3) / 4)
                                   : static_cast<int64_t>((rest * exact_tokens_ + exact_bytes_ - 1) / exact_bytes_);
        }
        return n;
    }

private:
    const Bpe& bpe_;
    size_t exact_bytes_ = 0;
    size_t exact_tokens_ = 0;
};

class Estimator {
public:
    explicit Estimator(const Bpe& bpe) : counter_(bpe) {}

    int64_t total() const { return total_; }

    void Text(std::string_view s) { total_ += counter_.Count(s); }
    void Json(dom::element e) { Text(simdjson::minify(e)); }

    void Request(dom::object req) {
        total_ += C::kRequest;
        dom::element e;
        if (Field(req, "system", e)) {
            total_ += C::kSystem;
            Content(e, 0);
        }
        dom::array tools;
        if (req["tools"].get_array().get(tools) == simdjson::SUCCESS && tools.size() > 0) {
            std::string_view choice;
            dom::object tool_choice;
            if (req["tool_choice"].get_object().get(tool_choice) == simdjson::SUCCESS) {
                choice = StringField(tool_choice, "type");
            }
            total_ += (choice == "any" || choice == "tool") ? C::kToolsPromptForced : C::kToolsPromptAuto;
            for (dom::element tool : tools) Tool(tool);
        }
        dom::array messages;
        if (req["messages"].get_array().get(messages) == simdjson::SUCCESS) {
            for (dom::element m : messages) {
                total_ += C::kMessage;
                dom::object msg;
                if (m.get_object().get(msg) == simdjson::SUCCESS && Field(msg, "content", e)) Content(e, 0);
            }
        }
    }

private:
    void Tool(dom::element t) {
        total_ += C::kTool;
        dom::object tool;
        if (t.get_object().get(tool) != simdjson::SUCCESS) return;
        Text(StringField(tool, "name"));
        Text(StringField(tool, "description"));
        dom::element schema;
        if (Field(tool, "input_schema", schema)) {
            Json(schema);
            return;
        }
        // Server and built-in tools (web_search, bash, text_editor, ...): their other settings.
        for (auto [key, value] : tool) {
            if (key == "name" || key == "description" || key == "type" || key == "cache_control") continue;
            Walk(value, 1);
        }
    }

    /// A string or an array of content blocks (system, message content, tool_result content, ...).
    void Content(dom::element e, int depth) {
        if (depth > kMaxWalkDepth) return;
        std::string_view s;
        if (e.get_string().get(s) == simdjson::SUCCESS) {
            Text(s);
            return;
        }
        dom::array blocks;
        if (e.get_array().get(blocks) == simdjson::SUCCESS) {
            for (dom::element b : blocks) Walk(b, depth + 1);
            return;
        }
        Walk(e, depth + 1);
    }

    /// A content block by its type; any other JSON by its string values.
    void Walk(dom::element e, int depth) {
        if (depth > kMaxWalkDepth) return;
        std::string_view s;
        if (e.get_string().get(s) == simdjson::SUCCESS) {
            Text(s);
            return;
        }
        dom::array arr;
        if (e.get_array().get(arr) == simdjson::SUCCESS) {
            for (dom::element x : arr) Walk(x, depth + 1);
            return;
        }
        dom::object o;
        if (e.get_object().get(o) != simdjson::SUCCESS) return;  // numbers, booleans, null
        const std::string_view type = StringField(o, "type");
        dom::element v;
        if (type == "text") {
            total_ += C::kBlock;
            Text(StringField(o, "text"));
        } else if (type == "image") {
            total_ += C::kImage;
        } else if (type == "tool_use" || type == "server_tool_use" || type == "mcp_tool_use") {
            total_ += C::kToolUse;
            Text(StringField(o, "name"));
            if (Field(o, "input", v)) Json(v);
        } else if (type == "tool_result" || type == "mcp_tool_result") {
            total_ += C::kToolResult;
            if (Field(o, "content", v)) Content(v, depth);
        } else if (type == "thinking") {
            total_ += C::kBlock;
            Text(StringField(o, "thinking"));
        } else if (type == "redacted_thinking") {
            // Encrypted: about one token per four bytes of the opaque data.
            total_ += C::kBlock + static_cast<int64_t>(StringField(o, "data").size() / 4);
        } else if (type == "document") {
            Document(o, depth);
        } else {
            // search_result, web_search_tool_result, ... or any other JSON: every string value
            // except identifiers and opaque payloads.
            if (!type.empty()) total_ += C::kBlock;
            for (auto [key, value] : o) {
                if (key == "type" || key == "id" || key == "tool_use_id" || key == "cache_control" ||
                    key == "signature" || key == "encrypted_content" || key == "encrypted_index" ||
                    key == "file_id" || key == "media_type" || key == "data") {
                    continue;
                }
                Walk(value, depth + 1);
            }
        }
    }

    void Document(dom::object o, int depth) {
        total_ += C::kBlock;
        Text(StringField(o, "title"));
        Text(StringField(o, "context"));
        dom::object source;
        if (o["source"].get_object().get(source) != simdjson::SUCCESS) return;
        const std::string_view kind = StringField(source, "type");
        dom::element v;
        if (kind == "text") {
            Text(StringField(source, "data"));
        } else if (kind == "content") {
            if (Field(source, "content", v)) Content(v, depth);
        } else if (kind == "base64") {
            if (StringField(source, "media_type") == "text/plain") {
                // Not a documented combination, but cheap to honour: count the text itself.
                Text(StringField(source, "data"));
            } else {
                total_ += C::kPdfPage * PdfPages(StringField(source, "data"));
            }
        } else {
            total_ += C::kPdfPage;  // url / file: the size is unknown here
        }
    }

    TextCounter counter_;
    int64_t total_ = 0;
};

}  // namespace

int64_t EstimateRequestTokens(std::string_view anthropic_request_json) {
    const Bpe& bpe = Bpe::Default();
    try {
        dom::parser parser;
        dom::element doc;
        dom::object req;
        if (parser.parse(anthropic_request_json.data(), anthropic_request_json.size()).get(doc) ==
                simdjson::SUCCESS &&
            doc.get_object().get(req) == simdjson::SUCCESS) {
            Estimator est(bpe);
            est.Request(req);
            return std::max<int64_t>(1, est.total());
        }
    } catch (...) {
        // Allocation failure inside the parser or minify: fall through to the text estimate.
    }
    try {
        return std::max<int64_t>(1, TextCounter(bpe).Count(anthropic_request_json));
    } catch (...) {
        return std::max<int64_t>(1, static_cast<int64_t>(anthropic_request_json.size() / 4));
    }
}

int64_t EstimateTextTokens(std::string_view text) {
    try {
        return TextCounter(Bpe::Default()).Count(text);
    } catch (...) {
        return static_cast<int64_t>((text.size() + 3) / 4);
    }
}

}  // namespace clove::tokenizer
