// The composition root: configuration, the state layer (database, secrets, seeding, admin keys),
// the usage writer, the first snapshot, then the HTTP server whose per-worker handler sends
// /admin/api/* and /metrics to the admin API, the embedded web UI's pages and assets to webui, and
// everything else to the gateway. On exit
// (after the drain) the usage writer flushes every queued record before the process ends.

#include "clove/app/app.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stop_token>
#include <mutex>
#include <condition_variable>
#include <thread>

#include "clove/admin/admin_api.hpp"
#include "clove/app/bootstrap.hpp"
#include "clove/base/log.hpp"
#include "clove/config/config.hpp"
#include "clove/http/server.hpp"
#include "clove/proxy/gateway.hpp"
#include "clove/proxy/health_checker.hpp"
#include "clove/proxy/snapshot.hpp"
#include "clove/storage/repository.hpp"
#include "clove/usage/writer.hpp"
#include "clove/webui/static_files.hpp"
#include "clove/quota/limiter.hpp"
#include "clove/routing/credential_state.hpp"
#include "clove/routing/sticky.hpp"
#include "clove/routing/cache_stats.hpp"

namespace clove::app {

namespace {

namespace asio = boost::asio;

/// One per worker: the admin API for its paths, the gateway for the rest.
class FrontHandler final : public http::Handler {
public:
    FrontHandler(asio::io_context& ioc, proxy::GatewayContext& ctx, admin::AdminApi& admin)
        : ioc_(ioc), tls_(ctx.tls), admin_(admin), gateway_(proxy::MakeGateway(ioc, ctx)) {}

    asio::awaitable<void> Handle(http::Exchange& ex) override {
        const std::string_view p = ex.path;
        if (p == "/metrics" || p == "/admin/api" || p.rfind("/admin/api/", 0) == 0) {
            co_await admin_.Handle(ex, ioc_, tls_);
            co_return;
        }
        if (!webui::IsApiPath(p)) {
            const bool served = co_await webui::Serve(ex);
            if (served) {
                co_return;
            }
        }
        co_await gateway_->Handle(ex);
    }
    void OnDrain() override { gateway_->OnDrain(); }

private:
    asio::io_context& ioc_;
    upstream::SharedTlsContext& tls_;
    admin::AdminApi& admin_;
    std::unique_ptr<http::Handler> gateway_;
};

std::optional<std::string> Env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::optional<std::string>(v) : std::nullopt;
}

}  // namespace

int Main(int argc, char** argv) {
    const auto started = std::chrono::steady_clock::now();
    std::signal(SIGPIPE, SIG_IGN);
    auto loaded = config::Load(argc, argv, [](const char* name) { return Env(name); });
    if (!loaded.config) {
        (loaded.exit_code == 0 ? std::cout : std::cerr) << loaded.message << "\n";
        return loaded.exit_code;
    }
    const config::Config& cfg = *loaded.config;
    if (!log::Init(cfg.log_level)) {
        std::cerr << "clove: invalid log level\n";
        return 2;
    }
    try {
        auto check = proxy::Snapshot::Build(cfg);
        (void)check;
    } catch (const std::exception& e) {
        std::cerr << "clove: invalid configuration: " << e.what() << "\n";
        return 2;
    }
    if (loaded.check_only) {
        std::cout << "configuration OK (" << cfg.upstreams.size() << " upstreams, " << cfg.client_keys.size()
                  << " client keys)\n";
        return 0;
    }

    // ---- state ------------------------------------------------------------------------------
    std::unique_ptr<storage::Database> db;
    std::optional<auth::SecretBox> box;
    try {
        auth::InitCrypto();
        db = OpenDatabase(cfg);
        box.emplace(auth::SecretBox::Load(Env("CLOVE_SECRET_KEY"), cfg.storage.data_dir));
        if (Seed(*db, *box, cfg)) {
            log::info("database seeded from {}", cfg.source.empty() ? "the embedded defaults and env" : cfg.source);
        }
    } catch (const std::exception& e) {
        log::error("cannot open the database: {}", e.what());
        return 1;
    }

    asio::thread_pool blocking(2);
    metrics::Registry metrics;
    std::atomic<int64_t> in_flight{0};
    proxy::SnapshotStore store(proxy::Snapshot::Build(config::RuntimeState{}));
    usage::WriterOptions wopts;
    wopts.spool_path = cfg.storage.data_dir + "/usage-spool.jsonl";
    wopts.retention_days = [&store] { return store.Load()->settings.usage_retention_days; };
    usage::UsageWriter writer(*db, wopts);
    admin::Services services{*db, *box, store, writer, metrics, blocking, in_flight, {}, 0,
                             std::chrono::steady_clock::now(), {}};
    services.started_at_ms = storage::NowMs();
    // Live routing state: credential health (persisted when it changes, off the worker threads,
    // in order), prompt-cache affinity, and the client keys' limit counters.
    const base::Clock& clock = base::SystemClock::Get();
    routing::HealthTable health(clock);
    routing::StickyTable sticky;
    routing::CacheStats cache_stats;
    quota::Limiter limiter(clock);
    services.health = &health;
    services.cache_stats = &cache_stats;
    services.limiter = &limiter;
    auto persist = asio::make_strand(blocking);
    health.SetSink([&db, persist](const std::string& id, const routing::Persisted& p) {
        asio::post(persist, [&db, id, p] {
            try {
                db->Write([&](storage::Session& s) {
                    storage::UpdateCredentialState(s, id, p.state, p.last_error, p.cooldown_until_wall_ms);
                });
            } catch (const std::exception& e) {
                log::warn("credential {}: state {} not stored: {}", id, p.state, e.what());
            }
        });
    });
    try {
        const int64_t wall = clock.WallMs();
        auto spend = db->Read([&](storage::Session& s) {
            return storage::SpendByKey(s, quota::Limiter::DayStartMs(wall), quota::Limiter::MonthStartMs(wall));
        });
        for (const auto& k : spend) {
            limiter.SeedSpend(k.key_id, k.since_day, k.since_month, k.total);
        }
    } catch (const std::exception& e) {
        log::warn("budget counters start from zero: cannot read the spend: {}", e.what());
    }
    try {
        services.Rebuild();
        SetupAdminKeys(*db, services, Env("ADMIN_API_KEYS"));
    } catch (const std::exception& e) {
        log::error("cannot load the runtime configuration: {}", e.what());
        return 1;
    }
    writer.Start();
    admin::AdminApi admin_api(services);

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

    {
        auto snap = store.Load();
        log::info("clove {} starting: config {}, database {} ({}), {} upstream(s), {} client key(s){}", CLOVE_VERSION,
                  cfg.source.empty() ? "(embedded defaults)" : cfg.source, db->name(),
                  cfg.storage.database_url.empty() ? cfg.storage.data_dir + "/clove.db" : "DATABASE_URL",
                  snap->upstreams.size(), snap->client_keys.size(),
                  !snap->client_keys_configured ? " (passthrough mode: clients use their own Anthropic keys)" : "");
        for (const auto& u : snap->upstreams) {
            log::info("upstream \"{}\": {} ({}), models {}", u.config.name, u.config.base_url,
                      u.passthrough() ? "client's own key" : fmt::format("{} credential(s)", u.credentials.size()),
                      fmt::join(u.config.models, ", "));
        }
    }
    // Several replicas on one PostgreSQL database: pick up what another replica changed
    // (upstreams, credentials, client keys, settings, prices, admin keys) within about 2 s. A
    // deleted client or admin key stops working everywhere, not only where it was deleted.
    std::jthread refresher;
    if (db->backend() == storage::Backend::kPostgres) {
        refresher = std::jthread([&services](std::stop_token stop) {
            std::mutex m;
            std::condition_variable_any cv;
            bool failing = false;
            while (!stop.stop_requested()) {
                {
                    std::unique_lock lock(m);
                    cv.wait_for(lock, stop, std::chrono::seconds(2), [] { return false; });
                }
                if (stop.stop_requested()) {
                    break;
                }
                try {
                    if (services.RefreshIfChanged()) {
                        log::info("configuration reloaded: changed by another replica");
                    }
                    failing = false;
                } catch (const std::exception& e) {
                    if (!failing) {
                        log::warn("cannot check the database for changes by other replicas: {}", e.what());
                    }
                    failing = true;
                }
            }
        });
    }
    upstream::SharedTlsContext tls;
    proxy::HealthChecker health_checker(store, health, tls);
    health_checker.Start();
    proxy::GatewayContext gctx{store, tls, &writer, &metrics, &in_flight, &health, &sticky, &limiter, &cache_stats, &clock};
    http::Server server(opts, [&](asio::io_context& ioc) {
        return std::make_unique<FrontHandler>(ioc, gctx, admin_api);
    });
    try {
        const uint16_t port = server.Bind();
        services.server = {opts.host, port,
                           opts.workers ? opts.workers : std::max(1u, std::thread::hardware_concurrency()),
                           cfg.storage.database_url.empty() ? cfg.storage.data_dir : std::string("(DATABASE_URL)"),
                           cfg.source};
    } catch (const std::exception& e) {
        log::error("cannot listen on {}:{}: {}", opts.host, opts.port, e.what());
        writer.Stop();
        return 1;
    }
    int rc = server.Run(started);
    if (refresher.joinable()) {
        refresher.request_stop();
        refresher.join();
    }
    health_checker.Stop();
    // The drain finished: every request has pushed its record. Flush them all, then close.
    writer.Stop();
    blocking.join();
    return rc;
}

}  // namespace clove::app
