#include "clove/webui/assets.hpp"

#include <algorithm>
#include <vector>

namespace clove::webui {

namespace {

std::vector<Asset> BuildTable() {
    std::vector<Asset> out;
    out.reserve(detail::kRowCount);
    const auto* blob = reinterpret_cast<const char*>(detail::Blob());
    for (std::size_t i = 0; i < detail::kRowCount; ++i) {
        const auto& r = detail::kRows[i];
        Asset a;
        a.path = r.path;
        a.content_type = r.content_type;
        a.etag = r.etag;
        a.raw = std::string_view(blob + r.raw_offset, r.raw_size);
        if (r.gzip_size > 0) {
            a.gzip = std::string_view(blob + r.gzip_offset, r.gzip_size);
        }
        a.immutable = r.immutable;
        out.push_back(a);
    }
    std::sort(out.begin(), out.end(), [](const Asset& x, const Asset& y) { return x.path < y.path; });
    return out;
}

const std::vector<Asset>& Table() {
    static const std::vector<Asset> table = BuildTable();
    return table;
}

}  // namespace

const Asset* Find(std::string_view path) {
    const auto& t = Table();
    auto it = std::lower_bound(t.begin(), t.end(), path, [](const Asset& a, std::string_view p) { return a.path < p; });
    return it != t.end() && it->path == path ? &*it : nullptr;
}

const Asset& Index() {
    static const Asset* index = Find("/index.html");
    return *index;  // embed.mjs refuses a build without index.html
}

std::size_t Count() { return Table().size(); }
const Asset& At(std::size_t i) { return Table()[i]; }

}  // namespace clove::webui
