#include "clove/translate/stop_matcher.hpp"

#include <algorithm>

namespace clove::translate {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
    for (size_t i = 0; i < stops.size(); ++i) {
        if (!stops[i].empty()) {
            stops_.push_back(std::move(stops[i]));
            index_.push_back(i);
        }
    }
}

std::optional<size_t> StopMatcher::Feed(std::string_view text, std::string& out) {
    if (stops_.empty()) {
        out += text;
        return std::nullopt;
    }
    held_ += text;
    // The sequence that completes first (smallest end) wins; on a tie the one that starts first.
    size_t best_end = std::string::npos, best_start = 0, best = 0;
    for (size_t i = 0; i < stops_.size(); ++i) {
        const size_t pos = held_.find(stops_[i]);
        if (pos == std::string::npos) {
            continue;
        }
        const size_t end = pos + stops_[i].size();
        if (end < best_end || (end == best_end && pos < best_start)) {
            best_end = end;
            best_start = pos;
            best = i;
        }
    }
    if (best_end != std::string::npos) {
        out.append(held_, 0, best_start);
        held_.clear();
        return index_[best];
    }
    // Hold back the longest suffix that is a proper prefix of some sequence.
    size_t hold = 0;
    for (const auto& s : stops_) {
        for (size_t k = std::min(s.size() - 1, held_.size()); k > hold; --k) {
            if (std::string_view(held_).substr(held_.size() - k) == std::string_view(s).substr(0, k)) {
                hold = k;
                break;
            }
        }
    }
    out.append(held_, 0, held_.size() - hold);
    held_.erase(0, held_.size() - hold);
    return std::nullopt;
}

void StopMatcher::Flush(std::string& out) {
    out += held_;
    held_.clear();
}

}  // namespace clove::translate
