#pragma once

// Serves the embedded admin UI on the front listener: `/` and client-side routes get index.html
// (no-cache, so a new binary's UI is picked up at once), hashed assets are immutable for a year,
// gzip when the client accepts it, ETag / If-None-Match revalidation, and a strict
// Content-Security-Policy. API paths (/v1/*, /admin/api/*, /metrics, /health) never reach it.

#include <boost/asio/awaitable.hpp>

#include <string_view>

#include "clove/http/server.hpp"
#include "clove/webui/assets.hpp"

namespace clove::webui {

/// What a GET/HEAD for `path` should answer from the UI: an asset, index.html for a client-side
/// route (only when the client accepts HTML), or nullptr when the UI has nothing there (the
/// caller answers its usual 404).
const Asset* Resolve(std::string_view path, std::string_view accept);

/// True for the paths the UI must never shadow.
bool IsApiPath(std::string_view path);

/// The full response head for `asset` (status line to the blank line). `use_gzip` picks the
/// encoded variant; `not_modified` makes it a 304 without a body.
std::string ResponseHead(const Asset& asset, bool use_gzip, bool not_modified, std::size_t body_size);

/// True when `if_none_match` (a header value: `*` or a list of entity tags, weak or strong)
/// matches `etag`.
bool EtagMatches(std::string_view if_none_match, std::string_view etag);

/// True when an Accept-Encoding header value allows gzip (q > 0).
bool AcceptsGzip(std::string_view accept_encoding);

/// Writes the answer for a GET/HEAD `ex` when the UI has something at its path; returns false
/// (nothing written) otherwise.
boost::asio::awaitable<bool> Serve(http::Exchange& ex);

}  // namespace clove::webui
