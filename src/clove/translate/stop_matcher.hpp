#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clove::translate {

/// Enforces stop sequences on streamed text the way the Messages API does: the text before the
/// first sequence to complete is released, the sequence itself never is. Text that could still
/// be the start of a sequence is held back, so a sequence split across chunks is caught; all
/// other text is released at once (no added latency). One per text block; not thread-safe.
class StopMatcher {
public:
    explicit StopMatcher(std::vector<std::string> stops);

    bool empty() const { return stops_.empty(); }

    /// Appends `text` and moves the releasable text to `out`. Returns the index (into the
    /// constructor's list) of the sequence that completed; the text after it is dropped.
    std::optional<size_t> Feed(std::string_view text, std::string& out);

    /// End of the text (or the block): releases what was held back.
    void Flush(std::string& out);

private:
    std::vector<std::string> stops_;  // empty strings removed
    std::vector<size_t> index_;       // position in the caller's list
    std::string held_;
};

}  // namespace clove::translate
