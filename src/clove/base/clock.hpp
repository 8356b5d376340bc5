#pragma once

// Time, injected (STYLE convention 12): cooldowns, rate-limit windows and sticky TTLs take a
// `const Clock&`, so the state machines are tested with a FakeClock that never sleeps.

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace clove::base {

/// steady_clock::now() read from CLOCK_MONOTONIC_COARSE: the same clock, up to one kernel tick
/// (1-4 ms) behind, read without touching the TSC. For I/O deadlines that are set around every
/// read and write and checked by 100 ms sweeps or timers; never for measured durations.
inline std::chrono::steady_clock::time_point CoarseSteadyNow() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return std::chrono::steady_clock::time_point(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

class Clock {
public:
    virtual ~Clock() = default;
    /// Monotonic milliseconds (durations, deadlines, windows): immune to wall-clock jumps.
    virtual int64_t SteadyMs() const = 0;
    /// Unix milliseconds (what is shown to people and stored).
    virtual int64_t WallMs() const = 0;
};

class SystemClock final : public Clock {
public:
    int64_t SteadyMs() const override {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
    int64_t WallMs() const override {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
    /// The process-wide instance.
    static const SystemClock& Get() {
        static const SystemClock clock;
        return clock;
    }
};

/// A clock that moves only when told to (tests).
class FakeClock final : public Clock {
public:
    explicit FakeClock(int64_t steady_ms = 1'000'000, int64_t wall_ms = 1'790'000'000'000)
        : steady_(steady_ms), wall_(wall_ms) {}
    int64_t SteadyMs() const override { return steady_.load(); }
    int64_t WallMs() const override { return wall_.load(); }
    void Advance(int64_t ms) {
        steady_ += ms;
        wall_ += ms;
    }
    /// Moves only the wall clock (a clock jump).
    void JumpWall(int64_t ms) { wall_ += ms; }

private:
    std::atomic<int64_t> steady_;
    std::atomic<int64_t> wall_;
};

}  // namespace clove::base
