#include "clove/app/app.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "clove/base/log.hpp"
#include "clove/config/config.hpp"
#include "clove/http/server.hpp"
#include "clove/proxy/gateway.hpp"
#include "clove/proxy/snapshot.hpp"

namespace clove::app {

int Main(int argc, char** argv) {
    const auto started = std::chrono::steady_clock::now();
    std::signal(SIGPIPE, SIG_IGN);
    auto env = [](const char* name) -> std::optional<std::string> {
        const char* v = std::getenv(name);
        return v ? std::optional<std::string>(v) : std::nullopt;
    };
    auto loaded = config::Load(argc, argv, env);
    if (!loaded.config) {
        (loaded.exit_code == 0 ? std::cout : std::cerr) << loaded.message << "\n";
        return loaded.exit_code;
    }
    const config::Config& cfg = *loaded.config;
    if (!log::Init(cfg.log_level)) {
        std::cerr << "clove: invalid log level\n";
        return 2;
    }
    std::shared_ptr<const proxy::Snapshot> snapshot;
    try {
        snapshot = proxy::Snapshot::Build(cfg);
    } catch (const std::exception& e) {
        std::cerr << "clove: invalid configuration: " << e.what() << "\n";
        return 2;
    }
    if (loaded.check_only) {
        std::cout << "configuration OK (" << cfg.upstreams.size() << " upstreams, " << cfg.client_keys.size()
                  << " client keys)\n";
        return 0;
    }
    proxy::SnapshotStore store(std::move(snapshot));

    http::ServerOptions opts;
    opts.host = cfg.server.host;
    opts.port = cfg.server.port;
    opts.workers = cfg.server.workers;
    opts.max_body_bytes = cfg.server.max_body_bytes;
    opts.max_header_bytes = cfg.server.max_header_bytes;
    opts.header_timeout = std::chrono::milliseconds(cfg.server.header_timeout_ms);
    opts.body_timeout = std::chrono::milliseconds(cfg.server.body_timeout_ms);
    opts.idle_timeout = std::chrono::milliseconds(cfg.server.idle_timeout_ms);
    opts.write_timeout = std::chrono::milliseconds(cfg.server.write_timeout_ms);
    opts.drain_timeout = std::chrono::milliseconds(cfg.server.drain_timeout_ms);

    log::info("clove {} starting: config {}, {} upstream(s), {} client key(s){}", CLOVE_VERSION,
              cfg.source.empty() ? "(embedded defaults)" : cfg.source, cfg.upstreams.size(), cfg.client_keys.size(),
              cfg.client_keys.empty() ? " (passthrough mode: clients use their own Anthropic keys)" : "");
    for (const auto& u : cfg.upstreams) {
        log::info("upstream \"{}\": {} ({}), models {}", u.name, u.base_url,
                  u.auth == config::UpstreamAuth::kPassthrough ? "client's own key" : "operator key",
                  fmt::join(u.models, ", "));
    }
    upstream::SharedTlsContext tls;
    http::Server server(opts, [&store, &tls](boost::asio::io_context& ioc) {
        return proxy::MakeGateway(ioc, store, tls);
    });
    try {
        server.Bind();
    } catch (const std::exception& e) {
        log::error("cannot listen on {}:{}: {}", opts.host, opts.port, e.what());
        return 1;
    }
    return server.Run(started);
}

}  // namespace clove::app
