#include "clove/webui/static_files.hpp"

#include <gtest/gtest.h>

#include <string>

namespace clove::webui {
namespace {

TEST(WebUiAssets, IndexAndHashedAssetsAreEmbedded) {
    const Asset& index = Index();
    EXPECT_EQ(index.path, "/index.html");
    EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
    EXPECT_NE(index.raw.find("<div id=\"root\">"), std::string_view::npos);
    EXPECT_FALSE(index.immutable);
    int scripts = 0;
    for (std::size_t i = 0; i < Count(); ++i) {
        const Asset& a = At(i);
        if (i > 0) EXPECT_LT(At(i - 1).path, a.path);
        EXPECT_EQ(a.immutable, a.path.rfind("/assets/", 0) == 0) << a.path;
        EXPECT_FALSE(a.content_type.empty()) << a.path;
        EXPECT_EQ(a.etag.front(), '"');
        EXPECT_EQ(a.etag.back(), '"');
        if (a.path.ends_with(".js")) {
            ++scripts;
            EXPECT_EQ(a.content_type, "text/javascript; charset=utf-8");
            // Every script the index references is embedded.
        }
        if (a.raw.size() > 4096 && (a.path.ends_with(".js") || a.path.ends_with(".css"))) {
            EXPECT_FALSE(a.gzip.empty()) << a.path << " should carry a gzip variant";
            EXPECT_LT(a.gzip.size(), a.raw.size());
            EXPECT_EQ(static_cast<unsigned char>(a.gzip[0]), 0x1f);
            EXPECT_EQ(static_cast<unsigned char>(a.gzip[1]), 0x8b);
        }
    }
    EXPECT_GE(scripts, 1);
    // The scripts and styles index.html loads are all in the table.
    std::string_view html = index.raw;
    for (std::size_t at = html.find("/assets/"); at != std::string_view::npos; at = html.find("/assets/", at + 1)) {
        auto end = html.find('"', at);
        ASSERT_NE(end, std::string_view::npos);
        EXPECT_NE(Find(html.substr(at, end - at)), nullptr) << html.substr(at, end - at);
    }
}

TEST(WebUiResolve, RootRoutesAssetsAndApiPaths) {
    EXPECT_EQ(Resolve("/", ""), &Index());
    EXPECT_EQ(Resolve("/index.html", "*/*"), &Index());
    // Client-side routes get the index only when the client asks for HTML (a browser).
    EXPECT_EQ(Resolve("/keys", "text/html,application/xhtml+xml,*/*;q=0.8"), &Index());
    EXPECT_EQ(Resolve("/upstreams/up_123", "TEXT/HTML"), &Index());
    EXPECT_EQ(Resolve("/keys", "application/json"), nullptr);
    EXPECT_EQ(Resolve("/keys", ""), nullptr);
    // A missing file is a 404, never the index served as a script.
    EXPECT_EQ(Resolve("/assets/missing-abc.js", "text/html"), nullptr);
    EXPECT_EQ(Resolve("/favicon.ico", "text/html"), nullptr);
    // API paths are never shadowed.
    for (std::string_view p : {"/v1/messages", "/v1", "/v1/models", "/admin/api", "/admin/api/keys", "/metrics", "/health"}) {
        EXPECT_EQ(Resolve(p, "text/html"), nullptr) << p;
        EXPECT_TRUE(IsApiPath(p)) << p;
    }
    EXPECT_FALSE(IsApiPath("/v1x"));
    EXPECT_FALSE(IsApiPath("/admin"));
    const Asset* favicon = Find("/favicon.svg");
    ASSERT_NE(favicon, nullptr);
    EXPECT_EQ(Resolve("/favicon.svg", ""), favicon);
    EXPECT_EQ(favicon->content_type, "image/svg+xml");
}

TEST(WebUiHeaders, EtagMatching) {
    EXPECT_TRUE(EtagMatches("\"abc\"", "\"abc\""));
    EXPECT_TRUE(EtagMatches("W/\"abc\"", "\"abc\""));
    EXPECT_TRUE(EtagMatches(" \"x\" , \"abc\"", "\"abc\""));
    EXPECT_TRUE(EtagMatches("*", "\"abc\""));
    EXPECT_FALSE(EtagMatches("\"abd\"", "\"abc\""));
    EXPECT_FALSE(EtagMatches("", "\"abc\""));
    EXPECT_FALSE(EtagMatches("abc", "\"abc\""));
}

TEST(WebUiHeaders, AcceptEncoding) {
    EXPECT_TRUE(AcceptsGzip("gzip, deflate, br"));
    EXPECT_TRUE(AcceptsGzip("br;q=1.0, GZIP;q=0.5"));
    EXPECT_TRUE(AcceptsGzip("*"));
    EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
    EXPECT_FALSE(AcceptsGzip("gzip;q=0.000, *"));
    EXPECT_FALSE(AcceptsGzip("identity"));
    EXPECT_FALSE(AcceptsGzip("br"));
    EXPECT_FALSE(AcceptsGzip(""));
    EXPECT_FALSE(AcceptsGzip("xgzip"));
}

TEST(WebUiHeaders, HeadsCarryCachingAndSecurity) {
    const Asset& index = Index();
    std::string h = ResponseHead(index, false, false, index.raw.size());
    EXPECT_EQ(h.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
    EXPECT_NE(h.find("cache-control: no-cache\r\n"), std::string::npos);
    EXPECT_NE(h.find("content-security-policy: default-src 'self'; script-src 'self';"), std::string::npos);
    EXPECT_NE(h.find("x-frame-options: DENY\r\n"), std::string::npos);
    EXPECT_NE(h.find("content-length: " + std::to_string(index.raw.size()) + "\r\n"), std::string::npos);
    const Asset* js = nullptr;
    for (std::size_t i = 0; i < Count(); ++i) {
        if (At(i).path.starts_with("/assets/") && At(i).path.ends_with(".js") && !At(i).gzip.empty()) js = &At(i);
    }
    ASSERT_NE(js, nullptr);
    std::string g = ResponseHead(*js, true, false, js->gzip.size());
    EXPECT_NE(g.find("cache-control: public, max-age=31536000, immutable\r\n"), std::string::npos);
    EXPECT_NE(g.find("content-encoding: gzip\r\n"), std::string::npos);
    EXPECT_NE(g.find("vary: accept-encoding\r\n"), std::string::npos);
    EXPECT_EQ(g.find("content-security-policy"), std::string::npos);
    std::string gz_etag(js->etag);
    gz_etag.insert(gz_etag.size() - 1, "-gz");
    EXPECT_NE(g.find("etag: " + gz_etag + "\r\n"), std::string::npos);
    std::string n = ResponseHead(*js, false, true, 0);
    EXPECT_EQ(n.rfind("HTTP/1.1 304 Not Modified\r\n", 0), 0u);
    EXPECT_EQ(n.find("content-length"), std::string::npos);
}

}  // namespace
}  // namespace clove::webui
