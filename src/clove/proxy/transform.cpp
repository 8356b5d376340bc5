#include "clove/proxy/transform.hpp"

#include <boost/json.hpp>

#include "clove/api/errors.hpp"
#include "clove/sse/event_framer.hpp"
#include "clove/translate/collector.hpp"

namespace clove::proxy {

namespace {

namespace json = boost::json;

int StatusForErrorType(std::string_view type) {
    if (type == "invalid_request_error") return 400;
    if (type == "authentication_error") return 401;
    if (type == "permission_error") return 403;
    if (type == "not_found_error") return 404;
    if (type == "request_too_large") return 413;
    if (type == "rate_limit_error") return 429;
    if (type == "overloaded_error") return 529;
    if (type == "timeout_error") return 504;
    return 502;
}

class MessagesFromChat final : public ResponseTransform {
public:
    MessagesFromChat(const translate::ChatPlan& plan, const config::OpenAIOptions& opt, std::string id,
                     translate::TextTokenCounter count)
        : tr_(plan, opt, id, count), stream_(plan.client_stream) {}

    void OnEvent(std::string_view, std::string_view data, std::string& out) override {
        Route(out, [&](std::string& o) { tr_.OnData(data, o); });
    }
    void OnBody(std::string_view body, std::string& out) override {
        Route(out, [&](std::string& o) { tr_.OnCompletion(body, o); });
    }
    void OnEnd(std::string& out) override {
        Route(out, [&](std::string& o) { tr_.OnEnd(o); });
    }
    void OnFailure(std::string_view message, std::string& out) override {
        Route(out, [&](std::string& o) { tr_.Fail("api_error", message, o); });
    }
    bool done() const override { return tr_.done(); }
    bool complete() const override { return tr_.complete(); }
    bool abort_upstream() const override { return tr_.stopped_early(); }
    api::Usage usage() const override { return tr_.usage(); }
    bool client_stream() const override { return stream_; }
    int final_status() const override { return status_; }

private:
    template <typename F>
    void Route(std::string& out, F&& produce) {
        if (stream_) {
            produce(out);
            return;
        }
        // stream:false: fold the events into one Message; the JSON leaves when it is done.
        events_.clear();
        produce(events_);
        sse::ForEachEvent(events_, scratch_, [this](const sse::EventView& ev) { collector_.OnEvent(ev.name, ev.data); });
        if (!tr_.done()) {
            return;
        }
        if (collector_.complete()) {
            out = collector_.Json();
            status_ = 200;
        } else {
            status_ = StatusForErrorType(collector_.error_type());
            out = api::ErrorJson(collector_.failed() ? collector_.error_type() : "api_error",
                                 collector_.failed() ? collector_.error_message() : "the upstream answer was incomplete",
                                 "");
        }
    }

    translate::ChatToMessages tr_;
    bool stream_;
    int status_ = 200;
    translate::MessageCollector collector_;
    std::string events_;
    std::string scratch_;
};

class ChatFromMessages final : public ResponseTransform {
public:
    ChatFromMessages(const translate::FrontPlan& plan, int64_t now) : plan_(plan), now_(now), tr_(plan, now) {}

    void OnEvent(std::string_view name, std::string_view data, std::string& out) override {
        tap_.OnEvent(name, data);
        tr_.OnEvent(name, data, out);
    }
    void OnBody(std::string_view body, std::string& out) override {
        api::ReadMessageUsage(body, usage_);
        out = translate::MessageToChatCompletion(body, plan_, now_);
        body_done_ = true;
    }
    void OnEnd(std::string& out) override {
        if (!body_done_ && !tr_.done()) {
            tr_.Fail("api_error", "the upstream stream ended before the message was finished", out);
        }
    }
    void OnFailure(std::string_view message, std::string& out) override {
        if (!tr_.done()) {
            tr_.Fail("api_error", message, out);
        }
    }
    bool done() const override { return body_done_ || tr_.done(); }
    bool complete() const override { return body_done_ || tap_.saw_message_stop(); }
    api::Usage usage() const override { return body_done_ ? usage_ : tap_.usage(); }
    bool client_stream() const override { return plan_.stream; }

private:
    translate::FrontPlan plan_;
    int64_t now_;
    translate::MessagesToChatStream tr_;
    api::StreamUsageTap tap_;
    api::Usage usage_;
    bool body_done_ = false;
};

class ChatPassthrough final : public ResponseTransform {
public:
    explicit ChatPassthrough(bool stream) : stream_(stream) {}

    void OnEvent(std::string_view name, std::string_view data, std::string& out) override {
        // Re-framed as it came (OpenAI streams are data-only; an `event:` name is kept).
        if (!name.empty()) {
            out += "event: ";
            out += name;
            out += '\n';
        }
        for (size_t start = 0;;) {
            const size_t nl = data.find('\n', start);
            out += "data: ";
            out += data.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
            out += '\n';
            if (nl == std::string_view::npos) {
                break;
            }
            start = nl + 1;
        }
        out += '\n';
        if (data == "[DONE]") {
            done_ = true;
            complete_ = true;
            return;
        }
        if (data.find("\"usage\"") != std::string_view::npos || data.find("\"error\"") != std::string_view::npos) {
            boost::system::error_code ec;
            json::value v = json::parse(data, ec);
            if (!ec && v.is_object()) {
                if (const auto* u = v.as_object().if_contains("usage"); u && u->is_object()) {
                    translate::ReadChatUsage(u->as_object(), usage_);
                }
                if (v.as_object().contains("error")) {
                    done_ = true;
                }
            }
        }
    }
    void OnBody(std::string_view body, std::string& out) override {
        out.assign(body);
        boost::system::error_code ec;
        json::value v = json::parse(body, ec);
        if (!ec && v.is_object()) {
            if (const auto* u = v.as_object().if_contains("usage"); u && u->is_object()) {
                translate::ReadChatUsage(u->as_object(), usage_);
            }
        }
        done_ = complete_ = true;
    }
    void OnEnd(std::string& out) override {
        if (!done_) {
            // Some servers end without [DONE]; a stream that ended cleanly is accepted as is.
            (void)out;
            done_ = complete_ = true;
        }
    }
    void OnFailure(std::string_view message, std::string& out) override {
        if (done_) {
            return;
        }
        done_ = true;
        out += "data: ";
        out += translate::ChatErrorJson("api_error", message);
        out += "\n\n";
    }
    bool done() const override { return done_; }
    bool complete() const override { return complete_; }
    api::Usage usage() const override { return usage_; }
    bool client_stream() const override { return stream_; }

private:
    bool stream_;
    bool done_ = false;
    bool complete_ = false;
    api::Usage usage_;
};

}  // namespace

std::unique_ptr<ResponseTransform> MakeMessagesFromChat(const translate::ChatPlan& plan,
                                                        const config::OpenAIOptions& opt, std::string message_id,
                                                        translate::TextTokenCounter count) {
    return std::make_unique<MessagesFromChat>(plan, opt, std::move(message_id), count);
}

std::unique_ptr<ResponseTransform> MakeChatFromMessages(const translate::FrontPlan& plan, int64_t now_unix_s) {
    return std::make_unique<ChatFromMessages>(plan, now_unix_s);
}

std::unique_ptr<ResponseTransform> MakeChatPassthrough(bool client_stream) {
    return std::make_unique<ChatPassthrough>(client_stream);
}

}  // namespace clove::proxy
