#include "clove/http/body_decoder.hpp"

#include <algorithm>
#include <cstring>

namespace clove::http {

namespace {
constexpr size_t kMaxExtension = 4096;
constexpr size_t kMaxTrailer = 16384;

int HexValue(char c) {
    if (c >= '0' && c <= '9') { return c - '0'; }
    if (c >= 'a' && c <= 'f') { return c - 'a' + 10; }
    if (c >= 'A' && c <= 'F') { return c - 'A' + 10; }
    return -1;
}
}  // namespace

void BodyDecoder::Start(Mode mode, uint64_t length, bool reject_trailers) {
    *this = BodyDecoder{};
    mode_ = mode;
    reject_trailers_ = reject_trailers;
    switch (mode) {
        case Mode::kLength:
            remaining_ = length;
            state_ = length == 0 ? State::kDone : State::kData;
            break;
        case Mode::kChunked:
            state_ = State::kSize;
            break;
        case Mode::kUntilClose:
            state_ = State::kData;
            break;
    }
}

void BodyDecoder::OnEof() {
    if (mode_ == Mode::kUntilClose && state_ == State::kData) {
        state_ = State::kDone;
    } else if (state_ != State::kDone) {
        state_ = State::kFailed;
    }
}

size_t BodyDecoder::Decode(char* buf, size_t out, size_t i, size_t end) {
    auto emit = [&](size_t n) {
        if (out != i) {
            std::memmove(buf + out, buf + i, n);
        }
        out += n;
        i += n;
    };
    while (i < end) {
        switch (state_) {
            case State::kDone:
            case State::kFailed:
                excess_ += end - i;
                return out;
            case State::kData: {
                size_t n = end - i;
                if (mode_ != Mode::kUntilClose) {
                    n = static_cast<size_t>(std::min<uint64_t>(n, remaining_));
                }
                emit(n);
                if (mode_ != Mode::kUntilClose) {
                    remaining_ -= n;
                    if (remaining_ == 0) {
                        state_ = mode_ == Mode::kChunked ? State::kDataCr : State::kDone;
                    }
                }
                break;
            }
            case State::kSize: {
                char c = buf[i];
                int h = HexValue(c);
                if (h >= 0) {
                    if (++size_digits_ > 15) {
                        state_ = State::kFailed;
                        break;
                    }
                    size_ = size_ * 16 + static_cast<uint64_t>(h);
                    ++i;
                } else if (size_digits_ == 0) {
                    state_ = State::kFailed;
                } else if (c == ';' || c == ' ' || c == '\t') {
                    state_ = State::kExt;
                    ++i;
                } else if (c == '\r') {
                    state_ = State::kSizeLf;
                    ++i;
                } else {
                    state_ = State::kFailed;
                }
                break;
            }
            case State::kExt: {
                char c = buf[i++];
                if (c == '\r') {
                    state_ = State::kSizeLf;
                } else if (c == '\n' || ++ext_len_ > kMaxExtension) {
                    state_ = State::kFailed;
                }
                break;
            }
            case State::kSizeLf:
                if (buf[i++] != '\n') {
                    state_ = State::kFailed;
                    break;
                }
                if (size_ == 0) {
                    state_ = State::kTrailerLineEmpty;
                } else {
                    remaining_ = size_;
                    state_ = State::kData;
                }
                size_ = 0;
                size_digits_ = 0;
                ext_len_ = 0;
                break;
            case State::kDataCr:
                state_ = buf[i++] == '\r' ? State::kDataLf : State::kFailed;
                break;
            case State::kDataLf:
                state_ = buf[i++] == '\n' ? State::kSize : State::kFailed;
                break;
            case State::kTrailerLineEmpty:
                // At the start of a trailer line: CRLF here ends the message.
                if (buf[i] == '\r') {
                    ++i;
                    state_ = State::kTrailerLf;
                    trailer_len_ = 0;
                } else {
                    state_ = reject_trailers_ ? State::kFailed : State::kTrailerLine;
                }
                break;
            case State::kTrailerLine: {
                char c = buf[i++];
                if (++trailer_len_ > kMaxTrailer) {
                    state_ = State::kFailed;
                } else if (c == '\n') {
                    state_ = State::kTrailerLineEmpty;
                }
                break;
            }
            case State::kTrailerLf:
                state_ = buf[i++] == '\n' ? State::kDone : State::kFailed;
                break;
        }
    }
    return out;
}

}  // namespace clove::http
