#include "clove/tokenizer/bpe.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

namespace clove::tokenizer {
namespace {

// Expected ids were produced once with the npm package's own JavaScript implementation
// (@anthropic-ai/tokenizer 0.0.4 on tiktoken 1.0.22, Node 20), `npm run -s reference -- "<text>"`
// in tools/tokenizer, which runs
//   const { getTokenizer } = require('@anthropic-ai/tokenizer');
//   getTokenizer().encode(text.normalize('NFKC'), [], [])
// i.e. the package's countTokens() pipeline with special tokens treated as plain text
// (countTokens itself passes 'all' and would count "<EOT>" as one special token).
struct Reference {
    const char* text;
    std::vector<uint32_t> ids;
};

const std::vector<Reference>& References() {
    static const std::vector<Reference> refs = {
        {"Hello, world! It's 2024.", {10002, 16, 2253, 5, 1111, 562, 1625, 1340, 18}},
        {"The quick brown fox jumps over the lazy dog.",
         {773, 4647, 9095, 33480, 37944, 985, 279, 17247, 6527, 18}},
        {"int main() {\n    return 0;  // done\n}\n",
         {387, 1890, 370, 503, 295, 449, 403, 31, 225, 2761, 2934, 203, 97, 203}},
        {"def f(x):\n\tif x >= 10:\n\t\treturn x ** 2\n",
         {531, 288, 12, 92, 345, 203, 202, 390, 679, 2687, 1094, 30, 600, 202, 1172, 679, 987, 421, 203}},
        // Fullwidth "，" and "！" become "," and "!" under NFKC.
        {"你好，世界！这是一个测试。", {22687, 29096, 16, 1499, 249, 37413, 5, 13834, 54406, 18822, 5785}},
        {"こんにちは世界。カタカナとひらがな",
         {20450, 31353, 10256, 54585, 12505, 1499, 249, 37413, 5785, 52343, 32042, 52343, 2633, 237, 12463,
          1462, 115, 20505, 13498, 14398}},
        {"Привет, мир!", {36237, 20716, 7963, 16, 12354, 2043, 2440, 5}},
        {"👋🏽 family: 👨‍👩‍👧‍👦 🎉",
         {53965, 238, 6617, 242, 126, 3086, 30, 41270, 244, 106, 477, 240, 53965,
          107, 477, 240, 53965, 105, 477, 240, 53965, 104, 41270, 241, 236}},
        {"a  b\n\n  c\t\t\n", {69, 225, 301, 1387, 281, 57856}},
        {"   leading and trailing   ", {261, 6825, 329, 19204, 264}},
        {"I'm we're they've he'll she'd it's don't 'S",
         {45, 2338, 609, 2247, 884, 3111, 489, 2785, 970, 2612, 444, 562, 1605, 828, 319, 55}},
        {"3.14159 and 1234567890 ١٢٣",
         {23, 18, 1212, 16102, 329, 11753, 8313, 20520, 225, 154, 99, 154, 100, 154, 101}},
        // Special-token text is plain text here (countTokens would say 9: "<EOT>" as one token).
        {"<EOT> and <|endoftext|>", {32, 41, 1591, 34, 329, 710, 96, 441, 1392, 676, 96, 34}},
        // NFKC: the "ﬁ" ligature, fullwidth digits and "…" ("...").
        {"ﬁnance ２０２４…", {37487, 1625, 1340, 1174}},
        // NFKC composes decomposed text (macOS file names are NFD): "Café crème brûlée".
        {"Cafe\u0301 cre\u0300me bru\u0302le\u0301e", {39, 32166, 2968, 35242, 2299, 19357, 80, 9101}},
        // Conjoining Hangul jamo become a syllable; marks in non-canonical order are reordered.
        {"\u1100\u1161\u11a8 한국어", {8127, 228, 59192, 34593, 260, 23861}},
        {"Vie\u0323\u0302t Nam", {31378, 16094, 234, 88, 32772}},
    };
    return refs;
}

TEST(Bpe, LoadsTheEmbeddedVocabulary) {
    EXPECT_EQ(Bpe::Default().VocabularySize(), 64995u);
    EXPECT_EQ(&Bpe::Default(), &Bpe::Default());
}

TEST(Bpe, MatchesTheJavaScriptTokenizer) {
    const Bpe& bpe = Bpe::Default();
    for (const Reference& ref : References()) {
        EXPECT_EQ(bpe.Encode(ref.text), ref.ids) << ref.text;
        EXPECT_EQ(bpe.Count(ref.text), ref.ids.size()) << ref.text;
    }
}

TEST(Bpe, LongRunsMatchTheJavaScriptTokenizer) {
    // 300 "a": one pre-token longer than the quadratic-merge limit (the heap path).
    std::vector<uint32_t> expected(18, 44945);
    expected.push_back(21567);
    expected.push_back(10329);
    EXPECT_EQ(Bpe::Default().Encode(std::string(300, 'a')), expected);
}

TEST(Bpe, EmptyTextHasNoTokens) {
    EXPECT_EQ(Bpe::Default().Count(""), 0u);
    EXPECT_TRUE(Bpe::Default().Encode("").empty());
}

TEST(Bpe, SpecialTokenTextNeverFails) {
    const Bpe& bpe = Bpe::Default();
    for (const char* text : {"<|endoftext|>", "<EOT>", "<META_START>x<META_END>", "<SOS><|im_start|>"}) {
        EXPECT_GT(bpe.Count(text), 1u) << text;
    }
}

TEST(Bpe, PreTokenizerFollowsThePattern) {
    // Expected pieces from the pattern itself in JavaScript: text.match(new RegExp(pat_str, 'gu')).
    const Bpe& bpe = Bpe::Default();
    using V = std::vector<std::string_view>;
    EXPECT_EQ(detail::SplitForTest(bpe, "a  b\n\n  c\t\t\n"), (V{"a", " ", " b", "\n\n ", " c", "\t\t\n"}));
    EXPECT_EQ(detail::SplitForTest(bpe, "I'm here?! 're 42x"), (V{"I", "'m", " here", "?!", " '", "re", " 42", "x"}));
    EXPECT_EQ(detail::SplitForTest(bpe, "x\u3000\u3000y"), (V{"x", "\u3000", "\u3000", "y"}));
    EXPECT_EQ(detail::SplitForTest(bpe, "  \n\nfoo"), (V{"  \n", "\n", "foo"}));
    EXPECT_EQ(detail::SplitForTest(bpe, "Hi!!! ...  (ok)"), (V{"Hi", "!!!", " ...", " ", " (", "ok", ")"}));
}

TEST(Bpe, NormalizesToNfkc) {
    // Expected strings from JavaScript's String.prototype.normalize('NFKC').
    const Bpe& bpe = Bpe::Default();
    EXPECT_EQ(detail::NormalizeForTest(bpe, "plain ASCII and é ü 中文"), "plain ASCII and é ü 中文");
    EXPECT_EQ(detail::NormalizeForTest(bpe, "e\u0301"), "\u00e9");
    EXPECT_EQ(detail::NormalizeForTest(bpe, "a\u0302\u0323"), "\u1ead");  // reordered, then composed
    EXPECT_EQ(detail::NormalizeForTest(bpe, "\u00e9\u0323"), "\u1eb9\u0301");
    EXPECT_EQ(detail::NormalizeForTest(bpe, "\u1100\u1161\u11a8"), "\uac01");
    EXPECT_EQ(detail::NormalizeForTest(bpe, "Ａｂｃ１２３ ﬁ…² \u00a0x\u3000y"), "Abc123 fi...2  x y");
    EXPECT_EQ(detail::NormalizeForTest(bpe, "\u0301leading mark"), "\u0301leading mark");
    // Invalid bytes pass through untouched, even around marks.
    EXPECT_EQ(detail::NormalizeForTest(bpe, std::string("\xff") + "e\u0301\xfe"), std::string("\xff") + "\u00e9\xfe");
}

TEST(Bpe, InvalidUtf8NeverCrashes) {
    const Bpe& bpe = Bpe::Default();
    const std::vector<std::string> cases = {
        std::string("\xff\xfe\xfd"),
        std::string("abc\xe4\xbd"),          // truncated 3-byte sequence at the end
        std::string("\xe4\xbd x \xf0\x9f"),  // truncated sequences in the middle
        std::string("\xc0\xaf\xe0\x80\xaf"), // overlong encodings
        std::string("\xed\xa0\x80"),         // a UTF-16 surrogate
        std::string("\xf4\x90\x80\x80"),     // above U+10FFFF
        std::string(" \x80\x80\x80 it's"),
        std::string("\0\0 \0", 4),
    };
    for (const std::string& s : cases) {
        const std::vector<uint32_t> ids = bpe.Encode(s);
        EXPECT_EQ(bpe.Count(s), ids.size());
        EXPECT_GE(ids.size(), 1u);
        EXPECT_LE(ids.size(), s.size());
    }
}

TEST(Bpe, RandomBytesNeverCrash) {
    const Bpe& bpe = Bpe::Default();
    std::mt19937 rng(42);
    for (int round = 0; round < 300; ++round) {
        std::string s(rng() % 3000, '\0');
        for (char& c : s) c = static_cast<char>(rng() % 256);
        const std::vector<uint32_t> ids = bpe.Encode(s);
        EXPECT_EQ(bpe.Count(s), ids.size());
        EXPECT_LE(ids.size(), s.size());
        for (uint32_t id : ids) EXPECT_TRUE(id >= 5 && id < 65000) << id;
    }
}

TEST(Bpe, HeapMergeAgreesWithTheQuadraticMerge) {
    const Bpe& bpe = Bpe::Default();
    std::mt19937 rng(7);
    const std::vector<std::string> alphabet = {"a", "b", "e", "n", "t", " ", "é", "中", "文", "x", "aa", "ing"};
    for (int round = 0; round < 500; ++round) {
        std::string piece;
        while (piece.size() < 1 + rng() % 120) piece += alphabet[rng() % alphabet.size()];
        EXPECT_EQ(detail::MergeForTest(bpe, piece, 0), detail::MergeForTest(bpe, piece, 128)) << piece;
    }
}

TEST(Bpe, LongInputsStayFast) {
    // A 256 KiB pre-token and whitespace run: merged in 64 KiB slices with the heap, O(n log n).
    const Bpe& bpe = Bpe::Default();
    EXPECT_GT(bpe.Count(std::string(256 << 10, 'z')), 1000u);
    EXPECT_GT(bpe.Count(std::string(256 << 10, ' ') + "x"), 0u);
}

TEST(Bpe, PieceCacheDoesNotChangeResults) {
    // Above 2 KiB Count/Encode keep a per-call cache of repeated pieces.
    const Bpe& bpe = Bpe::Default();
    std::string big;
    for (int i = 0; i < 100; ++i) {
        for (const Reference& ref : References()) {
            big += ref.text;
            big += i % 2 ? "\n" : " ";
        }
    }
    const std::vector<uint32_t> uncached = detail::EncodeForTest(bpe, big, false);
    EXPECT_EQ(detail::EncodeForTest(bpe, big, true), uncached);
    EXPECT_EQ(bpe.Encode(big), uncached);
    EXPECT_EQ(bpe.Count(big), uncached.size());
}

TEST(Bpe, ConcurrentUseGivesTheSameResults) {
    std::vector<size_t> counts(4);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < counts.size(); ++t) {
        threads.emplace_back([&counts, t] {
            size_t n = 0;
            for (int i = 0; i < 50; ++i) {
                for (const Reference& ref : References()) n += Bpe::Default().Count(ref.text);
            }
            counts[t] = n;
        });
    }
    for (std::thread& th : threads) th.join();
    for (size_t n : counts) EXPECT_EQ(n, counts[0]);
}

TEST(Bpe, LoadRejectsDamagedBlobs) {
    const std::string_view blob = detail::EmbeddedBlob();
    std::string error;
    EXPECT_EQ(Bpe::Load(blob.substr(0, 100), &error), nullptr);
    EXPECT_FALSE(error.empty());
    std::string damaged(blob);
    damaged[damaged.size() / 2] ^= 0x40;
    EXPECT_EQ(Bpe::Load(damaged, &error), nullptr);
    EXPECT_EQ(error, "checksum mismatch");
    auto copy = Bpe::Load(blob, &error);
    ASSERT_NE(copy, nullptr);
    EXPECT_EQ(copy->Encode("Hello, world! It's 2024."), References()[0].ids);
}

}  // namespace
}  // namespace clove::tokenizer
