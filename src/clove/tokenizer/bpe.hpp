#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace clove::tokenizer {

class Bpe;

namespace detail {
/// The blob generated at build time and embedded with .incbin (claude_bpe_blob.cpp, generated).
std::string_view EmbeddedBlob();

/// Test hooks. The pre-tokenizer's pieces of `utf8` (already normalized text).
std::vector<std::string_view> SplitForTest(const Bpe& bpe, std::string_view utf8);
/// The text the tokenizer actually splits: `utf8` in NFKC (invalid bytes kept as they are).
std::string NormalizeForTest(const Bpe& bpe, std::string_view utf8);
/// Encode() with the per-call piece cache allowed (as in production) or disabled.
std::vector<uint32_t> EncodeForTest(const Bpe& bpe, std::string_view utf8, bool use_cache);
/// Token ids of one piece, merged with the quadratic scan when piece.size() <= linear_max and with
/// the heap otherwise (the two must agree; production uses a fixed threshold).
std::vector<uint32_t> MergeForTest(const Bpe& bpe, std::string_view piece, size_t linear_max);
}  // namespace detail

/// Byte-level BPE (tiktoken-style ranks) with its pre-tokenizer, for local token estimates.
///
/// The vocabulary is the one published in the npm package `@anthropic-ai/tokenizer` (Anthropic's
/// Claude tokenizer, 64,995 ranked tokens). The build turns it into a compact blob
/// (tools/tokenizer/gen-blob.js) and embeds it in this library; see docs/token-counting.md.
///
/// Encoding follows the package's `countTokens`: the text is NFKC-normalized, split by the
/// pre-tokenizer pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// (implemented by hand), and each piece is merged by rank exactly as tiktoken does. NFKC (full
/// decomposition, canonical ordering, composition) uses tables generated from Node.js's ICU; text
/// already in NFKC (the common case, found by a quick check) is tokenized without a copy.
/// Differences from the package, all deliberate:
/// - special-token text (`<EOT>`, `<|endoftext|>`, ...) is encoded as plain text;
/// - invalid UTF-8 bytes are pre-tokenized as single "other" characters (JS strings cannot hold
///   them; the package would see U+FFFD);
/// - a pre-token longer than 64 KiB (a megabyte of one letter) is merged in 64 KiB slices.
///
/// Immutable after load; every const member is thread-safe. No member throws.
class Bpe {
public:
    /// The embedded vocabulary, loaded once on first use (thread-safe, a few ms).
    static const Bpe& Default();

    /// Loads a vocabulary blob in the gen-blob.js layout. `blob` must outlive the result. Returns
    /// nullptr, with a reason in `*error` when given, if the blob is malformed.
    static std::unique_ptr<Bpe> Load(std::string_view blob, std::string* error = nullptr);

    ~Bpe();
    Bpe(const Bpe&) = delete;
    Bpe& operator=(const Bpe&) = delete;

    /// Number of tokens of `utf8` (any bytes; invalid UTF-8 never fails). Equals Encode().size().
    size_t Count(std::string_view utf8) const;

    /// Token ids (the package's ranks, 5..64999) of `utf8`.
    std::vector<uint32_t> Encode(std::string_view utf8) const;

    /// Number of ranked tokens in the vocabulary (0 if the embedded blob failed to load, in which
    /// case Count() falls back to one token per 4 bytes).
    size_t VocabularySize() const;

    struct Impl;

private:
    friend std::vector<std::string_view> detail::SplitForTest(const Bpe&, std::string_view);
    friend std::string detail::NormalizeForTest(const Bpe&, std::string_view);
    friend std::vector<uint32_t> detail::EncodeForTest(const Bpe&, std::string_view, bool);
    friend std::vector<uint32_t> detail::MergeForTest(const Bpe&, std::string_view, size_t);
    explicit Bpe(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace clove::tokenizer
