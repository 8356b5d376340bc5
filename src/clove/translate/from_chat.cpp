#include "clove/translate/from_chat.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

#include <cctype>

#include "clove/api/errors.hpp"
#include "clove/translate/json_read.hpp"
#include "clove/translate/tool_emulation.hpp"

namespace clove::translate {

namespace json = boost::json;

namespace {

void AppendJson(std::string& out, std::string_view s) { api::AppendJsonString(out, s); }

std::string_view StopReasonFor(std::string_view finish, bool tools_seen) {
    if (tools_seen && (finish == "tool_calls" || finish == "function_call" || finish == "stop" || finish.empty())) {
        return "tool_use";
    }
    if (finish == "length") return "max_tokens";
    if (finish == "tool_calls" || finish == "function_call") return "tool_use";
    if (finish == "content_filter") return "refusal";
    return "end_turn";
}

}  // namespace

ChatToMessages::ChatToMessages(const ChatPlan& plan, const config::OpenAIOptions& opt, std::string message_id,
                               TextTokenCounter count)
    : plan_(plan), opt_(opt), id_(std::move(message_id)), count_(count), stops_(plan.stop_sequences),
      think_(opt.think_tags ? Think::kStart : Think::kOff) {
    if (plan_.tool_emulation) {
        tool_parser_ = std::make_unique<ToolCallParser>(plan_.tools);
    }
}

ChatToMessages::~ChatToMessages() = default;

void ChatToMessages::Event(std::string_view name, std::string_view data, std::string& out) {
    out += "event: ";
    out += name;
    out += "\ndata: ";
    out += data;
    out += "\n\n";
}

void ChatToMessages::Delta(int index, std::string_view type, std::string_view field, std::string_view value,
                           std::string& out) {
    std::string d = fmt::format(R"({{"type":"content_block_delta","index":{},"delta":{{"type":"{}","{}":)", index, type, field);
    AppendJson(d, value);
    d += "}}";
    Event("content_block_delta", d, out);
}

void ChatToMessages::Start(std::string& out) {
    if (started_) {
        return;
    }
    started_ = true;
    usage_.input_tokens = std::max<int64_t>(plan_.input_estimate, 1);
    usage_.output_tokens = 1;
    usage_.cache_creation_input_tokens = 0;
    usage_.cache_read_input_tokens = 0;
    std::string d = R"({"type":"message_start","message":{"id":)";
    AppendJson(d, id_);
    d += R"(,"type":"message","role":"assistant","model":)";
    AppendJson(d, plan_.client_model);
    d += fmt::format(
        R"(,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}}}})",
        usage_.input_tokens);
    Event("message_start", d, out);
}

void ChatToMessages::CloseBlock(std::string& out) {
    if (open_ != Block::kNone) {
        if (open_ == Block::kThinking) {
            // A signature is required by clients that replay thinking; this one only marks the
            // block as gateway-made (an OpenAI-compatible backend has no signatures).
            Delta(next_index_ - 1, "signature_delta", "signature", "clove-translated", out);
        }
        Event("content_block_stop", fmt::format(R"({{"type":"content_block_stop","index":{}}})", next_index_ - 1), out);
        open_ = Block::kNone;
    }
    // Calls that started while another one was streaming (backends that interleave fragments of
    // parallel calls) go out whole, in order, once the streaming one is closed.
    for (auto& t : tools_) {
        if (!t.pending) {
            continue;
        }
        t.pending = false;
        StartTool(t, out);
        if (!t.args.empty()) {
            Delta(t.index, "input_json_delta", "partial_json", t.args, out);
            t.args.clear();
        }
        Event("content_block_stop", fmt::format(R"({{"type":"content_block_stop","index":{}}})", t.index), out);
        open_ = Block::kNone;
    }
}

void ChatToMessages::StartTool(Tool& tool, std::string& out) {
    std::string client_id = ClientToolId(tool.upstream_id);
    if (tool.upstream_id.empty()) {
        client_id = fmt::format("toolu_clv{}{}", id_.size() > 16 ? id_.substr(id_.size() - 16) : id_, tool_count_ + 1);
        for (char& c : client_id) {
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
                c = '_';
            }
        }
    }
    tool.index = next_index_++;
    std::string d = fmt::format(R"({{"type":"content_block_start","index":{},"content_block":{{"type":"tool_use","id":)",
                                tool.index);
    AppendJson(d, client_id);
    d += R"(,"name":)";
    AppendJson(d, tool.name);
    d += R"(,"input":{}}})";
    Event("content_block_start", d, out);
    open_ = Block::kTool;
    ++tool_count_;
}

void ChatToMessages::FlushThink(std::string& out) {
    if (think_ != Think::kOff && !think_buf_.empty() && !done_) {
        // The answer ended (or something else began) inside the inline-reasoning detection.
        std::string held = std::move(think_buf_);
        think_buf_.clear();
        const Think was = think_;
        think_ = Think::kOff;
        if (was == Think::kInside) {
            Reasoning(held, out);
        } else {
            AnswerText(held, out);
        }
    }
    think_ = Think::kOff;
}

void ChatToMessages::FlushText(std::string& out) {
    if (done_) {
        return;
    }
    if (tool_parser_) {
        std::vector<ToolPiece> pieces;
        tool_parser_->Finish(pieces);
        for (auto& p : pieces) {
            if (p.kind == ToolPiece::Kind::kText) {
                EmitText(p.text, out);
                if (done_) return;
            } else {
                WholeTool(p.name, p.input_json, out);
            }
        }
        if (done_) {
            return;
        }
    }
    std::string rest;
    stops_.Flush(rest);
    if (!rest.empty()) {
        TextDelta(rest, out);
    }
}

void ChatToMessages::OpenText(std::string& out) {
    if (open_ == Block::kText) {
        return;
    }
    CloseBlock(out);
    Event("content_block_start",
          fmt::format(R"({{"type":"content_block_start","index":{},"content_block":{{"type":"text","text":""}}}})",
                      next_index_++),
          out);
    open_ = Block::kText;
}

void ChatToMessages::TextDelta(std::string_view text, std::string& out) {
    if (text.empty()) {
        return;
    }
    OpenText(out);
    emitted_text_ += text;
    Delta(next_index_ - 1, "text_delta", "text", text, out);
}

void ChatToMessages::EmitText(std::string_view text, std::string& out) {
    std::string safe;
    auto matched = stops_.Feed(text, safe);
    TextDelta(safe, out);
    if (matched) {
        matched_stop_ = plan_.stop_sequences[*matched];
        stopped_early_ = true;
        Finish(out);
    }
}

void ChatToMessages::Reasoning(std::string_view text, std::string& out) {
    if (text.empty()) {
        return;
    }
    if (open_ != Block::kThinking) {
        FlushText(out);
        if (done_) return;
        CloseBlock(out);
        Event("content_block_start",
              fmt::format(R"({{"type":"content_block_start","index":{},"content_block":{{"type":"thinking","thinking":"","signature":""}}}})",
                          next_index_++),
              out);
        open_ = Block::kThinking;
    }
    emitted_text_ += text;
    Delta(next_index_ - 1, "thinking_delta", "thinking", text, out);
}

void ChatToMessages::Content(std::string_view text, std::string& out) {
    if (text.empty()) {
        return;
    }
    if (think_ != Think::kOff) {
        ThinkTags(text, out);
        return;
    }
    AnswerText(text, out);
}

void ChatToMessages::ThinkTags(std::string_view text, std::string& out) {
    static constexpr std::string_view kOpen = "<think>";
    static constexpr std::string_view kClose = "</think>";
    think_buf_ += text;
    if (think_ == Think::kStart) {
        // Only an answer that starts with <think> (after whitespace) carries its reasoning inline.
        const size_t first = think_buf_.find_first_not_of(" \t\r\n");
        if (first == std::string::npos) {
            return;
        }
        std::string_view rest = std::string_view(think_buf_).substr(first);
        if (rest.size() < kOpen.size() && kOpen.starts_with(rest)) {
            return;  // maybe the tag, split across chunks
        }
        if (!rest.starts_with(kOpen)) {
            think_ = Think::kOff;
            std::string plain = std::move(think_buf_);
            think_buf_.clear();
            AnswerText(plain, out);
            return;
        }
        think_ = Think::kInside;
        think_lead_ = true;
        think_buf_.erase(0, first + kOpen.size());
    }
    if (think_lead_) {
        // The line break right after <think> is layout, not reasoning.
        const size_t start = think_buf_.find_first_not_of("\r\n");
        think_buf_.erase(0, start == std::string::npos ? think_buf_.size() : start);
        if (think_buf_.empty()) {
            return;
        }
        think_lead_ = false;
    }
    // Inside: reasoning up to </think>; hold back what could be the start of the tag.
    const size_t close = think_buf_.find(kClose);
    if (close == std::string::npos) {
        size_t hold = 0;
        for (size_t k = std::min(kClose.size() - 1, think_buf_.size()); k > 0; --k) {
            if (kClose.starts_with(std::string_view(think_buf_).substr(think_buf_.size() - k))) {
                hold = k;
                break;
            }
        }
        std::string reasoning = think_buf_.substr(0, think_buf_.size() - hold);
        think_buf_.erase(0, think_buf_.size() - hold);
        Reasoning(reasoning, out);
        return;
    }
    std::string reasoning = think_buf_.substr(0, close);
    std::string after = think_buf_.substr(close + kClose.size());
    think_buf_.clear();
    think_ = Think::kOff;
    Reasoning(reasoning, out);
    const size_t start = after.find_first_not_of("\r\n");
    if (start != std::string::npos && !done_) {
        AnswerText(std::string_view(after).substr(start), out);
    }
}

void ChatToMessages::AnswerText(std::string_view text, std::string& out) {
    if (!tool_parser_) {
        EmitText(text, out);
        return;
    }
    std::vector<ToolPiece> pieces;
    tool_parser_->Feed(text, pieces);
    for (auto& p : pieces) {
        if (done_) return;
        if (p.kind == ToolPiece::Kind::kText) {
            EmitText(p.text, out);
        } else {
            WholeTool(p.name, p.input_json, out);
        }
    }
}

void ChatToMessages::WholeTool(std::string_view name, std::string_view input_json, std::string& out) {
    std::string rest;
    stops_.Flush(rest);
    TextDelta(rest, out);
    CloseBlock(out);
    Tool t;
    t.name = std::string(name);  // no upstream id: StartTool makes one from the message id
    StartTool(t, out);
    Delta(t.index, "input_json_delta", "partial_json", input_json, out);
    emitted_text_ += input_json;
    CloseBlock(out);
}

void ChatToMessages::ToolFragment(const std::string& key, std::string_view id, std::string_view name,
                                  std::string_view args, std::string& out) {
    Tool* tool = nullptr;
    for (auto& t : tools_) {
        if (t.key == key) {
            tool = &t;
        }
    }
    // A fragment with a new id under a used index is a new call (some backends use index 0 for all).
    if (tool && !id.empty() && !tool->upstream_id.empty() && id != tool->upstream_id) {
        tool = nullptr;
    }
    if (!tool) {
        FlushThink(out);
        if (done_) {
            return;
        }
        const bool streaming_a_call = open_ == Block::kTool;
        if (!streaming_a_call) {
            std::string rest;
            stops_.Flush(rest);
            TextDelta(rest, out);
            CloseBlock(out);
        }
        tools_.push_back({key, std::string(id), -1, false, std::string(name), {}});
        tool = &tools_.back();
        if (streaming_a_call) {
            // Another call is streaming: this one waits, whole, until that one is done (its
            // fragments may still be interleaved with the first call's).
            tool->pending = true;
        } else {
            StartTool(*tool, out);
        }
    }
    if (args.empty()) {
        return;
    }
    if (tool->pending) {
        tool->args += args;
        emitted_text_ += args;
        return;
    }
    if (tool->index != next_index_ - 1 || open_ != Block::kTool) {
        return;  // its block was closed by text in between: nothing can reopen it
    }
    emitted_text_ += args;
    Delta(tool->index, "input_json_delta", "partial_json", args, out);
}

bool ReadChatUsage(const json::object& u, api::Usage& usage) {
    const int64_t prompt = IntOf(u.if_contains("prompt_tokens"));
    const int64_t completion = IntOf(u.if_contains("completion_tokens"));
    if (prompt < 0 && completion < 0) {
        return false;
    }
    int64_t cached = 0, written = 0;
    if (const auto* d = u.if_contains("prompt_tokens_details"); d && d->is_object()) {
        cached = std::max<int64_t>(0, IntOf(d->as_object().if_contains("cached_tokens")));
        written = std::max<int64_t>(0, IntOf(d->as_object().if_contains("cache_write_tokens")));
    }
    if (cached == 0) {
        cached = std::max<int64_t>(0, IntOf(u.if_contains("prompt_cache_hit_tokens")));  // DeepSeek
    }
    if (prompt >= 0) {
        usage.input_tokens = std::max<int64_t>(0, prompt - cached - written);
        usage.cache_read_input_tokens = cached;
        usage.cache_creation_input_tokens = written;
    }
    if (completion >= 0) {
        usage.output_tokens = completion;
    }
    return true;
}

void ChatToMessages::Finish(std::string& out) {
    if (done_) {
        return;
    }
    Start(out);
    if (!stopped_early_) {
        FlushThink(out);
        FlushText(out);
        if (done_) return;
    }
    CloseBlock(out);
    if (!have_upstream_usage_) {
        const int64_t est = count_ ? count_(emitted_text_) : static_cast<int64_t>((emitted_text_.size() + 3) / 4);
        usage_.output_tokens = std::max<int64_t>(est, 1);
    }
    std::string d = R"({"type":"message_delta","delta":{"stop_reason":)";
    if (matched_stop_) {
        d += R"("stop_sequence","stop_sequence":)";
        AppendJson(d, *matched_stop_);
    } else {
        d += '"';
        d += refused_ && tool_count_ == 0 ? std::string_view("refusal") : StopReasonFor(finish_reason_, tool_count_ > 0);
        d += R"(","stop_sequence":null)";
    }
    d += fmt::format(
        R"(}},"usage":{{"input_tokens":{},"cache_creation_input_tokens":{},"cache_read_input_tokens":{},"output_tokens":{}}}}})",
        usage_.input_tokens, usage_.cache_creation_input_tokens, usage_.cache_read_input_tokens, usage_.output_tokens);
    Event("message_delta", d, out);
    Event("message_stop", R"({"type":"message_stop"})", out);
    done_ = true;
    complete_ = true;
}

void ChatToMessages::OnData(std::string_view data, std::string& out) {
    if (done_) {
        return;
    }
    if (data == "[DONE]") {
        saw_done_ = true;
        Finish(out);
        return;
    }
    boost::system::error_code ec;
    json::value v = json::parse(data, ec);
    if (ec || !v.is_object()) {
        return;  // not a chunk (keepalive noise): skip
    }
    const auto& chunk = v.as_object();
    if (const auto* err = chunk.if_contains("error")) {
        std::string message = "upstream error";
        std::string type = "api_error";
        if (err->is_object()) {
            if (auto m = StrOf(err->as_object().if_contains("message")); !m.empty()) {
                message = std::string(m);
            }
            const int64_t code = IntOf(err->as_object().if_contains("code"));
            if (code >= 400 && code < 600) {
                type = std::string(api::ErrorTypeForStatus(code == 503 ? 529 : static_cast<int>(code)));
            }
        } else if (err->is_string()) {
            message = std::string(err->as_string());
        }
        Fail(type, message, out);
        return;
    }
    Start(out);
    if (const auto* u = chunk.if_contains("usage"); u && u->is_object()) {
        have_upstream_usage_ = ReadChatUsage(u->as_object(), usage_) || have_upstream_usage_;
    }
    const auto* choices = chunk.if_contains("choices");
    if (!choices || !choices->is_array() || choices->as_array().empty()) {
        return;
    }
    const auto* c0 = &choices->as_array()[0];
    if (!c0->is_object()) {
        return;
    }
    const auto& choice = c0->as_object();
    if (const auto* delta = choice.if_contains("delta"); delta && delta->is_object()) {
        const auto& d = delta->as_object();
        std::string_view reasoning;
        if (opt_.reasoning_field != "reasoning") {
            reasoning = StrOf(d.if_contains("reasoning_content"));
        }
        if (reasoning.empty() && opt_.reasoning_field != "reasoning_content") {
            reasoning = StrOf(d.if_contains("reasoning"));
        }
        Reasoning(reasoning, out);
        if (done_) return;
        Content(StrOf(d.if_contains("content")), out);
        if (done_) return;
        // OpenAI's refusal text: shown as text, and the message ends as a refusal.
        if (auto refusal = StrOf(d.if_contains("refusal")); !refusal.empty()) {
            refused_ = true;
            EmitText(refusal, out);
            if (done_) return;
        }
        if (const auto* calls = d.if_contains("tool_calls"); calls && calls->is_array()) {
            size_t pos = 0;
            for (const auto& c : calls->as_array()) {
                if (!c.is_object()) {
                    continue;
                }
                const auto& call = c.as_object();
                int64_t idx = IntOf(call.if_contains("index"));
                std::string key = std::to_string(idx >= 0 ? idx : static_cast<int64_t>(pos));
                std::string_view name, args;
                if (const auto* fn = call.if_contains("function"); fn && fn->is_object()) {
                    name = StrOf(fn->as_object().if_contains("name"));
                    const auto* a = fn->as_object().if_contains("arguments");
                    if (a && a->is_string()) {
                        args = a->as_string();
                    } else if (a && a->is_object()) {
                        scratch_ = json::serialize(*a);  // some backends send an object
                        args = scratch_;
                    }
                }
                ToolFragment(key, StrOf(call.if_contains("id")), name, args, out);
                ++pos;
            }
        }
    }
    if (auto fr = StrOf(choice.if_contains("finish_reason")); !fr.empty()) {
        finish_reason_ = std::string(fr);
        // vLLM says which stop string ended the text (non-standard `stop_reason`).
        if (fr == "stop") {
            if (auto sr = StrOf(choice.if_contains("stop_reason")); !sr.empty()) {
                for (const auto& s : plan_.stop_sequences) {
                    if (s == sr) {
                        matched_stop_ = s;
                    }
                }
            }
        }
        // Close the text now (held-back text leaves); message_delta waits for the usage chunk.
        FlushThink(out);
        FlushText(out);
        if (done_) return;
        CloseBlock(out);
    }
}

void ChatToMessages::OnCompletion(std::string_view body, std::string& out) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) {
        Fail("api_error", "the upstream sent an unreadable completion", out);
        return;
    }
    auto& o = v.as_object();
    // Rewrite the completion as one chunk: message -> delta.
    if (auto* choices = o.if_contains("choices"); choices && choices->is_array() && !choices->as_array().empty() &&
                                                  choices->as_array()[0].is_object()) {
        auto& c = choices->as_array()[0].as_object();
        if (auto* m = c.if_contains("message")) {
            c["delta"] = *m;
            c.erase("message");
            if (auto* calls = c["delta"].as_object().if_contains("tool_calls"); calls && calls->is_array()) {
                int64_t i = 0;
                for (auto& call : calls->as_array()) {
                    if (call.is_object() && !call.as_object().contains("index")) {
                        call.as_object()["index"] = i;
                    }
                    ++i;
                }
            }
        }
    }
    OnData(json::serialize(v), out);
    if (!done_) {
        Finish(out);
    }
}

void ChatToMessages::OnEnd(std::string& out) {
    if (done_) {
        return;
    }
    if (!finish_reason_.empty() || saw_done_) {
        Finish(out);
        return;
    }
    Fail("api_error", "the upstream stream ended before the message was finished", out);
}

void ChatToMessages::Fail(std::string_view type, std::string_view message, std::string& out) {
    if (done_) {
        return;
    }
    done_ = true;
    error_type_ = std::string(type);
    std::string d = R"({"type":"error","error":{"type":)";
    AppendJson(d, type);
    d += R"(,"message":)";
    AppendJson(d, message);
    d += "}}";
    Event("error", d, out);
}

MappedError MapChatError(int status, std::string_view body) {
    MappedError e;
    e.status = status;
    if (status == 422) {
        e.status = 400;
    } else if (status == 503) {
        e.status = 529;
    } else if (status < 400 || status > 599) {
        e.status = 502;
    }
    e.type = std::string(api::ErrorTypeForStatus(e.status));
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (!ec && v.is_object()) {
        if (const auto* err = v.as_object().if_contains("error")) {
            if (err->is_object()) {
                e.message = std::string(StrOf(err->as_object().if_contains("message")));
            } else if (err->is_string()) {
                e.message = std::string(err->as_string());
            }
        }
        if (e.message.empty()) {
            e.message = std::string(StrOf(v.as_object().if_contains("message")));
        }
    }
    if (e.message.empty()) {
        std::string text;
        for (char c : body.substr(0, 300)) {
            text += (static_cast<unsigned char>(c) >= 0x20 || c == '\n') ? c : ' ';
        }
        e.message = text.empty() ? fmt::format("upstream answered HTTP {}", status) : text;
    }
    return e;
}

}  // namespace clove::translate
