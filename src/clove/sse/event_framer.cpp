#include "clove/sse/event_framer.hpp"

#include <cstring>

namespace clove::sse {

size_t EventFramer::Scan(std::string_view w) noexcept {
    const char* data = w.data();
    const size_t n = w.size();
    if (!prev_cr_ && pos_ < n && std::memchr(data + pos_, '\r', n - pos_) == nullptr) {
        // No CR in the new bytes (the usual LF-only stream): one memchr per line.
        while (pos_ < n) {
            const char* lf = static_cast<const char*>(std::memchr(data + pos_, '\n', n - pos_));
            if (!lf) {
                pos_ = n;
                break;
            }
            const size_t at = static_cast<size_t>(lf - data);
            if (at == line_start_) {
                event_end_ = at + 1;  // a blank line ends an event
            }
            line_start_ = at + 1;
            pos_ = at + 1;
        }
        return event_end_;
    }
    while (pos_ < n) {
        char c = data[pos_];
        if (c != '\r' && c != '\n') {
            // Fast skip to the next line end.
            prev_cr_ = false;
            // Find the LF, then look for a CR only within this line: searching the whole window
            // for a CR that an LF-only stream never has would make every line cost O(window).
            const char* lf = static_cast<const char*>(std::memchr(data + pos_, '\n', n - pos_));
            size_t line_end = lf ? static_cast<size_t>(lf - data) : n;
            const char* cr = static_cast<const char*>(std::memchr(data + pos_, '\r', line_end - pos_));
            const char* next = cr ? cr : lf;
            if (!next) {
                pos_ = n;
                break;
            }
            pos_ = static_cast<size_t>(next - data);
            continue;
        }
        if (c == '\n' && prev_cr_) {
            // Second half of a CRLF whose CR already ended the line.
            prev_cr_ = false;
            if (event_end_ == pos_) {
                event_end_ = pos_ + 1;
            }
            line_start_ = pos_ + 1;
            ++pos_;
            continue;
        }
        bool empty_line = pos_ == line_start_;
        prev_cr_ = c == '\r';
        line_start_ = pos_ + 1;
        ++pos_;
        if (empty_line) {
            event_end_ = pos_;
        }
    }
    return event_end_;
}

void EventFramer::Consume(size_t n) noexcept {
    pos_ -= n;
    line_start_ -= n;
    event_end_ -= n;
}

void ForEachEvent(std::string_view span, std::string& scratch,
                  const std::function<void(const EventView&)>& fn) {
    EventView ev;
    size_t data_lines = 0;
    auto flush = [&] {
        if (!ev.name.empty() || data_lines > 0) {
            fn(ev);
        }
        ev = EventView{};
        data_lines = 0;
    };
    size_t i = 0;
    // The usual LF-only stream: one memchr per line instead of two.
    const bool lf_only = std::memchr(span.data(), '\r', span.size()) == nullptr;
    while (i < span.size()) {
        // Not span.find_first_of("\r\n"): libstdc++ runs a memchr over the needle per byte.
        const char* base = span.data();
        const void* lf = std::memchr(base + i, '\n', span.size() - i);
        size_t end = lf ? static_cast<size_t>(static_cast<const char*>(lf) - base) : span.size();
        if (const void* cr = lf_only ? nullptr : std::memchr(base + i, '\r', end - i)) {
            end = static_cast<size_t>(static_cast<const char*>(cr) - base);
        }
        std::string_view line = span.substr(i, end - i);
        i = end;
        if (i < span.size()) {
            if (span[i] == '\r' && i + 1 < span.size() && span[i + 1] == '\n') {
                i += 2;
            } else {
                i += 1;
            }
        }
        if (line.empty()) {
            flush();
            continue;
        }
        if (line[0] == ':') {
            continue;
        }
        size_t colon = line.find(':');
        std::string_view field = line.substr(0, colon);
        std::string_view value;
        if (colon != std::string_view::npos) {
            value = line.substr(colon + 1);
            if (!value.empty() && value[0] == ' ') {
                value.remove_prefix(1);
            }
        }
        if (field == "event") {
            ev.name = value;
        } else if (field == "data") {
            if (data_lines == 0) {
                ev.data = value;
            } else {
                if (data_lines == 1) {
                    scratch.assign(ev.data);
                }
                scratch += '\n';
                scratch += value;
                ev.data = scratch;
            }
            ++data_lines;
        }
    }
    flush();
}

}  // namespace clove::sse
