#include "clove/base/request_id.hpp"

#include <random>

namespace clove::base {

namespace {
uint64_t SplitMix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
}  // namespace

RequestIdGenerator::RequestIdGenerator() {
    std::random_device rd;
    state_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

std::string RequestIdGenerator::Next() {
    static constexpr char kHex[] = "0123456789abcdef";
    uint64_t r = SplitMix64(state_);
    uint32_t seq = ++sequence_;
    std::string id = "req_clove_";
    id.resize(10 + 24);
    for (int i = 0; i < 16; ++i) {
        id[10 + i] = kHex[(r >> (60 - 4 * i)) & 0xF];
    }
    for (int i = 0; i < 8; ++i) {
        id[26 + i] = kHex[(seq >> (28 - 4 * i)) & 0xF];
    }
    return id;
}

}  // namespace clove::base
