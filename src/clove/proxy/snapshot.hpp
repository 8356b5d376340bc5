#pragma once

#include <array>
#include <cstring>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "clove/config/config.hpp"
#include "clove/upstream/peer.hpp"

namespace clove::proxy {

/// An upstream ready for the hot path: config plus its parsed peer and pre-built auth header.
struct UpstreamRuntime {
    config::UpstreamConfig config;
    upstream::Peer peer;
    std::string auth_header;  ///< "x-api-key: ...\r\n" for key auth; "" for passthrough.
};

using KeyDigest = std::array<unsigned char, 32>;

struct KeyDigestHash {
    size_t operator()(const KeyDigest& d) const noexcept {
        size_t h;
        static_assert(sizeof h <= sizeof d);
        std::memcpy(&h, d.data(), sizeof h);
        return h;
    }
};

/// The immutable runtime view of the configuration that requests read. Built once, shared as
/// `shared_ptr<const Snapshot>`; a request pins one for its whole life.
struct Snapshot {
    std::vector<UpstreamRuntime> upstreams;
    /// SHA-256(client key) -> key name. Empty = no client keys: passthrough-only mode.
    std::unordered_map<KeyDigest, std::string, KeyDigestHash> client_keys;

    /// Builds from a validated Config. Throws std::runtime_error for an unusable base_url.
    static std::shared_ptr<const Snapshot> Build(const config::Config& config);

    /// The first upstream serving `model` (config order), or nullptr.
    const UpstreamRuntime* Route(std::string_view model) const;

    /// Name of the client key `presented`, or nullopt. Constant time in the key's content.
    std::optional<std::string_view> Authenticate(std::string_view presented) const;
};

KeyDigest DigestKey(std::string_view key);

/// Publishes snapshots atomically: readers Load() once per request, writers Store() a new one.
class SnapshotStore {
public:
    explicit SnapshotStore(std::shared_ptr<const Snapshot> initial) : current_(std::move(initial)) {}
    std::shared_ptr<const Snapshot> Load() const { return current_.load(std::memory_order_acquire); }
    void Store(std::shared_ptr<const Snapshot> next) { current_.store(std::move(next), std::memory_order_release); }

private:
    std::atomic<std::shared_ptr<const Snapshot>> current_;
};

}  // namespace clove::proxy
