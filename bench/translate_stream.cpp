// CPU cost of translating one streamed event, per direction (issue 6 target: < 20 us/event).
//
//   build/release/bench/clove_bench_translate --benchmark_counters_tabular=true
//
// Each iteration translates a whole stream through the same code the gateway runs: the shape of
// bench/run.sh's stream (51 text deltas) and a long one (1000), each with its start, finish,
// usage and end events; `per_event` is the time per upstream event. Framing (sse::EventFramer / ForEachEvent) is included, as in the gateway.
#include <benchmark/benchmark.h>

#include <string>

#include "clove/sse/event_framer.hpp"
#include "clove/translate/chat_front.hpp"
#include "clove/translate/from_chat.hpp"

namespace {

std::string OpenAIStream(int deltas, bool stop_sequences_hint) {
    (void)stop_sequences_hint;
    std::string s;
    auto chunk = [&](const std::string& delta, const char* finish) {
        s += R"(data: {"id":"chatcmpl-8xYz","object":"chat.completion.chunk","created":1767225600,"model":"qwen3-32b","choices":[{"index":0,"delta":)";
        s += delta;
        s += R"(,"logprobs":null,"finish_reason":)";
        s += finish;
        s += "}]}\n\n";
    };
    chunk(R"({"role":"assistant","content":""})", "null");
    for (int i = 0; i < deltas; ++i) {
        chunk(R"({"content":" the quick brown fox"})", "null");
    }
    chunk("{}", R"("stop")");
    s += R"(data: {"id":"chatcmpl-8xYz","object":"chat.completion.chunk","created":1767225600,"model":"qwen3-32b","choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":400,"total_tokens":1600}})";
    s += "\n\ndata: [DONE]\n\n";
    return s;
}

std::string AnthropicStream(int deltas) {
    std::string s =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":1200,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
    for (int i = 0; i < deltas; ++i) {
        s += "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" the quick brown fox\"}}\n\n";
    }
    s += "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
         "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":400}}\n\n"
         "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    return s;
}

void BM_MessagesFromChat(benchmark::State& state) {
    const int deltas = static_cast<int>(state.range(0));
    const std::string upstream = OpenAIStream(deltas, false);
    clove::translate::ChatPlan plan;
    plan.client_model = "claude-sonnet-4-5";
    plan.client_stream = true;
    plan.input_estimate = 1200;
    if (state.range(1)) {
        plan.stop_sequences = {"\n\nHuman:", "</answer>", "STOP"};
    }
    const clove::config::OpenAIOptions opt;
    std::string out, scratch;
    int64_t events = 0;
    for (auto _ : state) {
        clove::translate::ChatToMessages tr(plan, opt, "msg_bench");
        out.clear();
        clove::sse::EventFramer framer;
        const size_t n = framer.Scan(upstream);
        clove::sse::ForEachEvent(std::string_view(upstream).substr(0, n), scratch,
                                 [&](const clove::sse::EventView& ev) {
                                     tr.OnData(ev.data, out);
                                     ++events;
                                 });
        tr.OnEnd(out);
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["per_event"] =
        benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["events"] = static_cast<double>(deltas + 4);
}

void BM_ChatFromMessages(benchmark::State& state) {
    const int deltas = static_cast<int>(state.range(0));
    const std::string upstream = AnthropicStream(deltas);
    clove::translate::FrontPlan plan;
    plan.client_model = "gpt-claude";
    plan.stream = true;
    plan.include_usage = true;
    std::string out, scratch;
    int64_t events = 0;
    for (auto _ : state) {
        clove::translate::MessagesToChatStream tr(plan, 1767225600);
        out.clear();
        clove::sse::EventFramer framer;
        const size_t n = framer.Scan(upstream);
        clove::sse::ForEachEvent(std::string_view(upstream).substr(0, n), scratch,
                                 [&](const clove::sse::EventView& ev) {
                                     tr.OnEvent(ev.name, ev.data, out);
                                     ++events;
                                 });
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["per_event"] =
        benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

}  // namespace

BENCHMARK(BM_MessagesFromChat)->Args({51, 0})->Args({51, 1})->Args({1000, 0});
BENCHMARK(BM_ChatFromMessages)->Arg(51)->Arg(1000);
BENCHMARK_MAIN();
