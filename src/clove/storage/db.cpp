#include "clove/storage/db.hpp"

#include <charconv>
#include <cstdlib>

namespace clove::storage {

namespace {
const std::string kEmpty;
}

const std::string& Row::Text(size_t i) const {
    const auto& c = cols.at(i);
    return c ? *c : kEmpty;
}

int64_t Row::Int(size_t i) const {
    const auto& c = cols.at(i);
    if (!c || c->empty()) {
        return 0;
    }
    int64_t v = 0;
    auto [p, ec] = std::from_chars(c->data(), c->data() + c->size(), v);
    if (ec != std::errc() || p != c->data() + c->size()) {
        // A REAL column read as an integer (SUM over REAL, or "12.0" from PostgreSQL numeric).
        return static_cast<int64_t>(std::strtod(c->c_str(), nullptr));
    }
    return v;
}

double Row::Real(size_t i) const {
    const auto& c = cols.at(i);
    if (!c || c->empty()) {
        return 0;
    }
    return std::strtod(c->c_str(), nullptr);
}

std::optional<int64_t> Row::OptInt(size_t i) const {
    if (Null(i)) {
        return std::nullopt;
    }
    return Int(i);
}

}  // namespace clove::storage
