// Local token counting (src/clove/tokenizer): throughput of Bpe::Count per kind of text, one
// EstimateRequestTokens over a Claude-Code-sized request, and the vocabulary load.
//
//   build/release/bench/clove_bench_tokenizer --benchmark_counters_tabular=true
//   CLOVE_TOKENIZER_BENCH_FILES=a.txt:b.md build/release/bench/clove_bench_tokenizer   # also these files
//
// bytes_per_second is input UTF-8 bytes; `tokens` the count per iteration. docs/token-counting.md
// has the numbers measured on real files.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "clove/tokenizer/bpe.hpp"
#include "clove/tokenizer/estimate.hpp"

namespace {

using clove::tokenizer::Bpe;

const char* const kEnglish =
    "Prompt caching lets a client reuse the processed prefix of a long prompt across requests. "
    "When a request marks a block with cache_control, the provider stores everything up to that "
    "block; a later request that starts with the same bytes reads the stored prefix instead of "
    "processing it again, which is both faster and cheaper. The cache lives for a few minutes and "
    "is refreshed every time it is read, so an agent that keeps working on the same repository "
    "keeps hitting it. Gateways must therefore route a conversation back to the account that "
    "created its cache, or the next request pays the full price again.\n\n";

const char* const kCode =
    "template <class Emit>\nvoid Split(std::string_view s, Emit&& emit) const {\n"
    "    const auto* p = reinterpret_cast<const unsigned char*>(s.data());\n"
    "    for (size_t i = 0; i < s.size();) {\n        uint32_t len = 0;\n"
    "        const uint8_t cls = ClassAt(p + i, s.size() - i, len);\n"
    "        if (cls == kSpace) { emit(i, len); i += len; continue; }  // TODO: runs\n"
    "        i += len;\n    }\n}\n\n";

const char* const kChinese =
    "提示缓存允许客户端在多个请求之间复用长提示的已处理前缀。当请求用缓存控制标记某个内容块时，"
    "服务会保存到该块为止的全部内容；之后以相同字节开头的请求会直接读取已保存的前缀，"
    "不必重新处理，因此既更快也更便宜。缓存只保留几分钟，每次读取都会刷新。\n";

const char* const kRussian =
    "Кэширование подсказок позволяет клиенту повторно использовать обработанный префикс длинной "
    "подсказки в нескольких запросах. Кэш живёт несколько минут и обновляется при каждом чтении.\n";

std::string Repeat(const char* text, size_t bytes) {
    std::string out;
    while (out.size() < bytes) out += text;
    return out;
}

void CountText(benchmark::State& state, const std::string& text) {
    const Bpe& bpe = Bpe::Default();
    size_t tokens = 0;
    for (auto _ : state) {
        tokens = bpe.Count(text);
        benchmark::DoNotOptimize(tokens);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
    state.counters["tokens"] = static_cast<double>(tokens);
    state.counters["tokens_per_second"] =
        benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsIterationInvariantRate);
}

/// A Claude-Code-like body: a long system prompt, 15 tools with JSON schemas, 40 turns with
/// tool_use / tool_result blocks and one image.
std::string RequestBody() {
    std::string body = R"({"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,"system":[{"type":"text","text":")";
    for (int i = 0; i < 12; ++i) body += "You are an interactive CLI tool that helps users with software engineering tasks. ";
    body += R"("}],"tools":[)";
    for (int t = 0; t < 15; ++t) {
        if (t) body += ",";
        body += R"({"name":"Tool)" + std::to_string(t) +
                R"(","description":"Reads a file from the local filesystem. The file_path parameter must be an absolute path.",)"
                R"("input_schema":{"type":"object","properties":{"file_path":{"type":"string","description":"The absolute path to the file to read"},)"
                R"("offset":{"type":"number","description":"The line number to start reading from"}},"required":["file_path"],"additionalProperties":false}})";
    }
    body += R"(],"messages":[)";
    for (int m = 0; m < 40; ++m) {
        if (m) body += ",";
        if (m % 2 == 0) {
            body += R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_)" + std::to_string(m) +
                    R"(","content":")";
            for (int l = 0; l < 20; ++l) body += "    const auto* p = reinterpret_cast<const unsigned char*>(s.data());\\n";
            body += R"("}]})";
        } else {
            body += R"({"role":"assistant","content":[{"type":"text","text":"Let me read the next file to see how the pre-tokenizer handles whitespace."},)"
                    R"({"type":"tool_use","id":"toolu_)" + std::to_string(m) +
                    R"(","name":"Tool1","input":{"file_path":"/work/main/src/clove/tokenizer/bpe.cpp","offset":120}}]})";
        }
    }
    body += R"(,{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":")" +
            std::string(100000, 'A') + R"("}},{"type":"text","text":"What does this screenshot show?"}]}]})";
    return body;
}

void BM_EstimateRequest(benchmark::State& state) {
    const std::string body = RequestBody();
    int64_t tokens = 0;
    for (auto _ : state) {
        tokens = clove::tokenizer::EstimateRequestTokens(body);
        benchmark::DoNotOptimize(tokens);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
    state.counters["tokens"] = static_cast<double>(tokens);
}
BENCHMARK(BM_EstimateRequest);

void BM_LoadVocabulary(benchmark::State& state) {
    for (auto _ : state) {
        auto bpe = Bpe::Load(clove::tokenizer::detail::EmbeddedBlob());
        benchmark::DoNotOptimize(bpe.get());
    }
}
BENCHMARK(BM_LoadVocabulary)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
    static const std::vector<std::pair<std::string, std::string>> samples = [] {
        std::vector<std::pair<std::string, std::string>> s = {
            {"english_1k", Repeat(kEnglish, 1024)},   {"english_64k", Repeat(kEnglish, 64 << 10)},
            {"code_64k", Repeat(kCode, 64 << 10)},    {"chinese_64k", Repeat(kChinese, 64 << 10)},
            {"russian_64k", Repeat(kRussian, 64 << 10)},
        };
        if (const char* files = std::getenv("CLOVE_TOKENIZER_BENCH_FILES")) {
            std::stringstream list(files);
            for (std::string path; std::getline(list, path, ':');) {
                std::ifstream in(path, std::ios::binary);
                std::stringstream content;
                content << in.rdbuf();
                if (in) s.emplace_back(path.substr(path.find_last_of('/') + 1), content.str());
            }
        }
        return s;
    }();
    for (const auto& [name, text] : samples) {
        benchmark::RegisterBenchmark(("BM_Count/" + name).c_str(), [&text = text](benchmark::State& st) {
            CountText(st, text);
        });
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
