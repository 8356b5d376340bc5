#pragma once

#include <cstdint>
#include <string>

namespace clove::base {

/// Generates request ids of the form `req_clove_` + 24 lowercase hex digits: 64 random bits from
/// a per-instance seed plus a 32-bit sequence, so ids never repeat within a process.
/// One instance per worker thread; not thread-safe.
class RequestIdGenerator {
public:
    RequestIdGenerator();
    std::string Next();

private:
    uint64_t state_;
    uint32_t sequence_ = 0;
};

}  // namespace clove::base
