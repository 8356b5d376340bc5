#pragma once

// The admin UI's files, embedded in the binary at build time (web/scripts/embed.mjs turns the
// Vite build into a blob and a table). Lookup is a binary search over the sorted paths.

#include <cstddef>
#include <string_view>

namespace clove::webui {

struct Asset {
    std::string_view path;          ///< "/index.html", "/assets/index-B0Z8na-m.js"
    std::string_view content_type;  ///< with charset for text types
    std::string_view etag;          ///< strong validator of the raw bytes, quoted
    std::string_view raw;           ///< the file
    std::string_view gzip;          ///< its gzip encoding, empty when not worth it
    bool immutable = false;         ///< content-hashed name (Vite's assets/): cache forever
};

/// The asset at exactly `path`, or nullptr.
const Asset* Find(std::string_view path);
/// index.html (always present: the build fails without it).
const Asset& Index();
/// Every asset, sorted by path.
std::size_t Count();
const Asset& At(std::size_t i);

namespace detail {
struct AssetRow {
    const char* path;
    const char* content_type;
    const char* etag;
    std::size_t raw_offset, raw_size, gzip_offset, gzip_size;
    bool immutable;
};
const unsigned char* Blob();
extern const AssetRow kRows[];
extern const std::size_t kRowCount;
}  // namespace detail

}  // namespace clove::webui
