#pragma once

// Candidate planning: the ordered list of (upstream, credential) pairs a request may try
// (Pingora's BackendSelection::iter). Pure over the snapshot, the live credential state and a
// clock reading; no I/O.
//
// Order:
//   1. upstreams that serve the model (and may be used: operator keys need client keys);
//      native kinds before translated ones, then priority (higher first); within a tier, least
//      in-flight per unit of weight, ties broken by weighted random choice;
//   2. inside an upstream, usable credentials least recently used first; credentials whose
//      rate-limit headers show little left come after the others;
//   3. a sticky credential (same cacheable prefix or Claude Code session seen recently) moves to
//      the front while it is usable;
//   4. credentials cooling down after repeated failures (not after a 429) are appended as a last
//      resort, so a lone failing upstream still gets one attempt and its own error is relayed.
// Credentials that are invalid, rate-limited (until their reset) or at their concurrency cap are
// left out; when nothing is left, the result says why (status, type, message, retry-after).

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "clove/proxy/snapshot.hpp"
#include "clove/routing/sticky.hpp"

namespace clove::proxy {

struct Candidate {
    const UpstreamRuntime* upstream = nullptr;
    const CredentialRuntime* credential = nullptr;  ///< null for passthrough upstreams
    bool last_resort = false;
};

struct PlanRequest {
    std::string_view model;
    /// Affinity keys, most specific first (session id, then cacheable prefixes, longest first).
    std::span<const uint64_t> sticky_keys;
    int64_t now_ms = 0;       ///< steady
    int64_t now_wall_ms = 0;
};

struct Plan {
    std::vector<Candidate> candidates;
    bool sticky_hit = false;
    std::string sticky_credential;  ///< the remembered credential (hit or not)
    // When `candidates` is empty:
    int status = 0;
    std::string message;
    std::optional<int64_t> retry_after_ms;
};

/// `rng` only breaks ties between equally loaded upstreams. `sticky` may be null.
Plan PlanCandidates(const Snapshot& snap, const PlanRequest& req, routing::StickyTable* sticky, std::mt19937_64& rng);

}  // namespace clove::proxy
