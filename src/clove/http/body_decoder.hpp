#pragma once

#include <cstddef>
#include <cstdint>

namespace clove::http {

/// Decodes an upstream response body in place: framing bytes (chunk sizes, extensions, CRLFs,
/// trailers) are removed and payload bytes are moved down so the buffer holds
/// `[payload ... | raw not yet decoded]`. The relay then forwards payload with its own framing.
/// Works at any split point. One per response; not thread-safe.
class BodyDecoder {
public:
    enum class Mode { kLength, kChunked, kUntilClose };

    /// `reject_trailers`: a chunked body with trailer fields fails (requests; Clove accepts none).
    void Start(Mode mode, uint64_t length = 0, bool reject_trailers = false);

    /// Decodes raw bytes `buf[raw_begin, raw_end)`, appending payload at `buf[payload_end...]`
    /// (payload_end <= raw_begin). Returns the new payload end. Raw bytes after the end of the body
    /// are left untouched and counted in `excess()`. Sets `failed()` on a framing error.
    size_t Decode(char* buf, size_t payload_end, size_t raw_begin, size_t raw_end);

    /// The upstream closed the connection: completes a kUntilClose body; any other mode that is
    /// not done is a truncation.
    void OnEof();

    bool done() const { return state_ == State::kDone; }
    bool failed() const { return state_ == State::kFailed; }
    size_t excess() const { return excess_; }
    Mode mode() const { return mode_; }

private:
    enum class State { kSize, kExt, kSizeLf, kData, kDataCr, kDataLf, kTrailerLine, kTrailerLf,
                       kTrailerLineEmpty, kDone, kFailed };
    Mode mode_ = Mode::kLength;
    State state_ = State::kData;
    uint64_t remaining_ = 0;
    uint64_t size_ = 0;
    size_t size_digits_ = 0;
    size_t ext_len_ = 0;
    size_t trailer_len_ = 0;
    size_t excess_ = 0;
    bool reject_trailers_ = false;
};

}  // namespace clove::http
