#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace clove::usage {

/// The numbers of one usage record (everything but its texts).
struct UsageCounts {
    int64_t ts_ms = 0;  ///< Unix ms when the request arrived
    int status = 0;
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

/// One proxied request, as the usage table stores it. No prompt or response content.
struct UsageRecord : UsageCounts {
    std::string request_id;
    std::string key_id;       ///< "" for passthrough (the client's own key)
    std::string upstream_id;  ///< "" when no upstream was chosen
    std::string credential_id;
    std::string model;           ///< as requested by the client
    std::string upstream_model;  ///< after model_map
    std::string error_type;  ///< "" on success
};

/// A usage record whose texts are borrowed for the duration of a call: what a worker hands to
/// UsageWriter::Push, which copies the texts into its queue (no allocation per record, and no
/// memory allocated on a worker is freed by the writer thread).
struct UsageRecordView : UsageCounts {
    std::string_view request_id;
    std::string_view key_id;
    std::string_view upstream_id;
    std::string_view credential_id;
    std::string_view model;
    std::string_view upstream_model;
    std::string_view error_type;

    UsageRecordView() = default;
    explicit UsageRecordView(const UsageRecord& r)
        : UsageCounts(r),
          request_id(r.request_id),
          key_id(r.key_id),
          upstream_id(r.upstream_id),
          credential_id(r.credential_id),
          model(r.model),
          upstream_model(r.upstream_model),
          error_type(r.error_type) {}
};

}  // namespace clove::usage
