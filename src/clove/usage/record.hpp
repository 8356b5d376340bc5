#pragma once

#include <cstdint>
#include <string>

namespace clove::usage {

/// One proxied request, as the usage table stores it. No prompt or response content.
struct UsageRecord {
    std::string request_id;
    int64_t ts_ms = 0;  ///< Unix ms when the request arrived
    std::string key_id;       ///< "" for passthrough (the client's own key)
    std::string upstream_id;  ///< "" when no upstream was chosen
    std::string credential_id;
    std::string model;           ///< as requested by the client
    std::string upstream_model;  ///< after model_map
    int status = 0;
    std::string error_type;  ///< "" on success
    bool stream = false;
    double ttfb_ms = -1;  ///< -1 = no upstream byte
    double duration_ms = 0;
    int64_t input_tokens = 0;
    int64_t output_tokens = 0;
    int64_t cache_creation_tokens = 0;
    int64_t cache_creation_5m_tokens = 0;
    int64_t cache_creation_1h_tokens = 0;
    int64_t cache_read_tokens = 0;
    int64_t cost_nanousd = 0;  ///< 1e-9 USD
};

}  // namespace clove::usage
