// Golden transcripts (tests/data/translation/<case>/): a client request, the upstream request it
// must become, the upstream's answer bytes, and the exact bytes the client must get. Each answer
// is replayed whole, split at every byte boundary into two reads, and one byte per read: the
// client output must be identical every time (a translated stream does not depend on how the
// upstream's bytes were cut).
//
// case.json: {"direction": "messages_from_chat" | "chat_from_messages", "options": {OpenAIOptions
// fields}, "upstream_model": "..."}. Set CLOVE_GOLDEN_UPDATE=1 to rewrite expected files from the
// current output (then review the diff).
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "clove/sse/event_framer.hpp"
#include "clove/translate/chat_front.hpp"
#include "clove/translate/collector.hpp"
#include "clove/translate/from_chat.hpp"
#include "clove/translate/to_chat.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace clove::translate;

namespace {

constexpr int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z

std::string Slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void Spit(const fs::path& p, const std::string& s) {
    std::ofstream f(p, std::ios::binary);
    f << s;
}

clove::config::OpenAIOptions OptionsOf(const json::object& c) {
    clove::config::OpenAIOptions o;
    if (const auto* v = c.if_contains("options"); v && v->is_object()) {
        for (const auto& [k, val] : v->as_object()) {
            if (k == "tools") o.tools = val.as_bool();
            else if (k == "tool_emulation") o.tool_emulation = val.as_bool();
            else if (k == "images") o.images = val.as_bool();
            else if (k == "reasoning_field") o.reasoning_field = std::string(val.as_string());
            else if (k == "reasoning_control") o.reasoning_control = std::string(val.as_string());
            else if (k == "replay_reasoning") o.replay_reasoning = val.as_bool();
            else if (k == "max_stop") o.max_stop = static_cast<int>(val.as_int64());
            else if (k == "max_tokens_field") o.max_tokens_field = std::string(val.as_string());
            else if (k == "stream_usage") o.stream_usage = val.as_bool();
            else if (k == "think_tags") o.think_tags = val.as_bool();
            else if (k == "send_top_k") o.send_top_k = val.as_bool();
            else if (k == "system_anywhere") o.system_anywhere = val.as_bool();
            else if (k == "continue_final_message") o.continue_final_message = val.as_bool();
            else ADD_FAILURE() << "unknown option " << k;
        }
    }
    return o;
}

/// Frames `upstream` as SSE, delivered in reads that end at `cuts`, and calls `fn` per event.
void ForEachEventCut(std::string_view upstream, const std::vector<size_t>& cuts,
                     const std::function<void(const clove::sse::EventView&)>& fn) {
    std::string window, scratch;
    clove::sse::EventFramer framer;
    size_t prev = 0;
    std::vector<size_t> ends = cuts;
    ends.push_back(upstream.size());
    for (size_t end : ends) {
        window += upstream.substr(prev, end - prev);
        prev = end;
        const size_t fwd = framer.Scan(window);
        clove::sse::ForEachEvent(std::string_view(window).substr(0, fwd), scratch, fn);
        window.erase(0, fwd);
        framer.Consume(fwd);
    }
}

/// Replays `upstream` cut at the given offsets through the translator; returns the client bytes.
struct Replayer {
    std::string direction;
    bool upstream_json = false;
    ChatPlan chat_plan;
    FrontPlan front_plan;
    clove::config::OpenAIOptions opt;

    std::string Run(std::string_view upstream, const std::vector<size_t>& cuts) const {
        std::string out, scratch;
        if (direction == "messages_from_chat") {
            ChatToMessages tr(chat_plan, opt, "msg_golden");
            std::string events;
            if (upstream_json) {
                tr.OnCompletion(upstream, events);
            } else {
                ForEachEventCut(upstream, cuts, [&](const clove::sse::EventView& ev) { tr.OnData(ev.data, events); });
                tr.OnEnd(events);
            }
            if (chat_plan.client_stream) {
                return events;
            }
            MessageCollector col;
            clove::sse::ForEachEvent(events, scratch, [&](const clove::sse::EventView& ev) { col.OnEvent(ev.name, ev.data); });
            return col.complete() ? col.Json() + "\n" : "INCOMPLETE " + col.error_type() + ": " + col.error_message() + "\n";
        }
        // chat_from_messages
        if (upstream_json) {
            return MessageToChatCompletion(upstream, front_plan, kNow) + "\n";
        }
        MessagesToChatStream tr(front_plan, kNow);
        ForEachEventCut(upstream, cuts, [&](const clove::sse::EventView& ev) { tr.OnEvent(ev.name, ev.data, out); });
        if (!tr.done()) {
            tr.Fail("api_error", "the upstream stream ended before the message was finished", out);
        }
        return out;
    }
};

std::vector<fs::path> Cases() {
    std::vector<fs::path> out;
    const fs::path root = fs::path(CLOVE_TEST_DATA_DIR) / "translation";
    for (const auto& e : fs::directory_iterator(root)) {
        if (e.is_directory() && fs::exists(e.path() / "case.json")) {
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

class Golden : public ::testing::TestWithParam<fs::path> {};

TEST_P(Golden, ReplaysAtEveryBoundary) {
    const fs::path dir = GetParam();
    const bool update = std::getenv("CLOVE_GOLDEN_UPDATE") != nullptr;
    auto c = json::parse(Slurp(dir / "case.json")).as_object();
    Replayer r;
    r.direction = std::string(c.at("direction").as_string());
    r.opt = OptionsOf(c);
    const std::string upstream_model = c.contains("upstream_model") ? std::string(c.at("upstream_model").as_string()) : "upstream-model";
    const std::string request = Slurp(dir / "request.json");
    std::string upstream_request;
    if (r.direction == "messages_from_chat") {
        auto err = ToChatRequest(request, upstream_model, r.opt, upstream_request, r.chat_plan);
        ASSERT_FALSE(err) << err->message;
        r.chat_plan.input_estimate = 10;
    } else {
        auto err = FromChatRequest(request, upstream_model, 8192, upstream_request, r.front_plan);
        ASSERT_FALSE(err) << err->message;
    }
    const std::string upstream_request_pretty = json::serialize(json::parse(upstream_request)) + "\n";
    std::string upstream_file = "upstream.txt";
    if (fs::exists(dir / "upstream.json")) {
        upstream_file = "upstream.json";
        r.upstream_json = true;
    }
    const std::string upstream = Slurp(dir / upstream_file);
    const std::string whole = r.Run(upstream, {});
    if (update) {
        Spit(dir / "upstream_request.json", upstream_request_pretty);
        Spit(dir / "expected.txt", whole);
    }
    EXPECT_EQ(json::parse(upstream_request), json::parse(Slurp(dir / "upstream_request.json")))
        << "upstream request of " << dir.filename();
    const std::string expected = Slurp(dir / "expected.txt");
    ASSERT_EQ(whole, expected) << "client output of " << dir.filename();
    if (r.upstream_json) {
        return;
    }
    for (size_t k = 1; k < upstream.size(); ++k) {
        ASSERT_EQ(r.Run(upstream, {k}), expected) << dir.filename() << " split at byte " << k;
    }
    std::vector<size_t> every;
    for (size_t k = 1; k < upstream.size(); ++k) {
        every.push_back(k);
    }
    ASSERT_EQ(r.Run(upstream, every), expected) << dir.filename() << " one byte per read";
}

INSTANTIATE_TEST_SUITE_P(Translation, Golden, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<fs::path>& param_info) {
                             std::string n = param_info.param.filename().string();
                             for (char& ch : n) {
                                 if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                             }
                             return n;
                         });
