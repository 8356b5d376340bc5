#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace clove::sse {

/// Finds where complete Server-Sent Events end in a growing byte window, without copying.
///
/// The caller appends bytes to its window, calls `Scan(window)`, forwards
/// `window.substr(0, Scan(window))` (complete events only), then calls `Consume(n)` when it drops
/// that prefix from the front of its window. Line ends may be LF, CR or CRLF, also split across
/// calls. A blank line ends an event; stray blank lines are forwarded with the event before them.
/// One instance per stream; not thread-safe.
class EventFramer {
public:
    /// Scans bytes not seen before and returns the offset just past the last complete event in
    /// `window` (0 when there is none). `window` must start with the bytes of the previous call
    /// minus what was consumed.
    size_t Scan(std::string_view window) noexcept;

    /// The first `n` bytes (n <= the last value returned by Scan) left the window.
    void Consume(size_t n) noexcept;

    /// Forget everything (new stream).
    void Reset() noexcept { *this = EventFramer{}; }

private:
    size_t pos_ = 0;         // next byte to scan
    size_t line_start_ = 0;  // first byte of the current line
    size_t event_end_ = 0;   // offset after the last complete event
    bool prev_cr_ = false;   // the byte before pos_ was CR: an LF now completes that line end
};

/// One event's fields. Views point into the span given to ForEachEvent or into `scratch`
/// (multi-line data); valid until the callback returns.
struct EventView {
    std::string_view name;  ///< the `event:` field, "" when absent
    std::string_view data;  ///< `data:` lines joined with '\n'
};

/// Calls `fn` for every event in `span`, which must consist of complete events (as returned by
/// EventFramer). Comment lines and unknown fields are skipped; events with neither a name nor
/// data are not reported.
void ForEachEvent(std::string_view span, std::string& scratch,
                  const std::function<void(const EventView&)>& fn);

}  // namespace clove::sse
