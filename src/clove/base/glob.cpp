#include "clove/base/glob.hpp"

namespace clove::base {

bool GlobMatch(std::string_view pattern, std::string_view text) noexcept {
    size_t p = 0;
    size_t t = 0;
    size_t star_p = std::string_view::npos;
    size_t star_t = 0;
    while (t < text.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
            ++p;
            ++t;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star_p = p++;
            star_t = t;
        } else if (star_p != std::string_view::npos) {
            p = star_p + 1;
            t = ++star_t;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') {
        ++p;
    }
    return p == pattern.size();
}

bool IsLiteralGlob(std::string_view pattern) noexcept {
    return pattern.find_first_of("*?") == std::string_view::npos;
}

}  // namespace clove::base
