#include "clove/proxy/health_checker.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "clove/base/log.hpp"
#include "clove/routing/probe.hpp"

namespace clove::proxy {

namespace asio = boost::asio;

std::string ProbeModel(const config::UpstreamConfig& u) {
    for (const auto& m : u.models) {
        if (m.find_first_of("*?[") == std::string::npos) {
            // A client-facing name: the upstream knows it by its mapped name, if any.
            auto it = u.model_map.find(m);
            return it == u.model_map.end() ? m : it->second;
        }
    }
    if (!u.model_map.empty()) {
        return u.model_map.begin()->second;
    }
    return "claude-haiku-4-5";
}

HealthChecker::HealthChecker(const SnapshotStore& store, routing::HealthTable& health, upstream::SharedTlsContext& tls)
    : store_(store), health_(health), tls_(tls) {}

HealthChecker::~HealthChecker() { Stop(); }

void HealthChecker::Start() {
    asio::co_spawn(ioc_, Loop(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
}

void HealthChecker::Stop() {
    ioc_.stop();
    if (thread_.joinable()) {
        thread_.join();
    }
}

asio::awaitable<void> HealthChecker::Loop() {
    asio::steady_timer timer(ioc_);
    for (;;) {
        auto snap = store_.Load();
        const auto now = std::chrono::steady_clock::now();
        for (size_t i = 0; i < snap->upstreams.size(); ++i) {
            const auto& u = snap->upstreams[i];
            if (u.config.health_check == "off" || u.passthrough() || u.credentials.empty() || running_[u.id]) {
                continue;
            }
            auto [it, fresh] = next_due_.try_emplace(u.id, now);
            if (now < it->second) {
                continue;
            }
            it->second = now + std::chrono::milliseconds(std::max<uint32_t>(u.config.health_check_interval_ms, 1000));
            running_[u.id] = true;
            asio::co_spawn(ioc_, CheckUpstream(snap, i), asio::detached);
        }
        timer.expires_after(std::chrono::milliseconds(250));
        co_await timer.async_wait(asio::use_awaitable);
    }
}

asio::awaitable<void> HealthChecker::CheckUpstream(std::shared_ptr<const Snapshot> snap, size_t index) {
    const UpstreamRuntime& u = snap->upstreams[index];  // `snap` keeps it alive
    const auto kind = u.config.health_check == "message" ? routing::ProbeKind::kMessage : routing::ProbeKind::kModels;
    const std::string model = ProbeModel(u.config);
    const auto timeout = std::chrono::milliseconds(std::min<uint32_t>(u.config.connect_timeout_ms + 20'000, 30'000));
    for (const auto& c : u.credentials) {
        std::string key(c.key());
        routing::ProbeResult r = co_await routing::Probe(ioc_, tls_, u.peer, std::move(key), timeout, kind, model,
                                                         u.config.kind == config::UpstreamKind::kOpenAI);
        auto ev = routing::EventFromProbe(r);
        const auto before = c.health->health();
        if (r.ok) {
            health_.Revive(c.id, *c.health, snap->policy);
        } else if (ev) {
            health_.Record(c.id, *c.health, *ev, snap->policy);
        }
        const auto after = c.health->health();
        if (before != after) {
            log::info("health check: credential {} of upstream \"{}\": {} -> {} ({})", c.id, u.config.name,
                      routing::HealthName(before), routing::HealthName(after), r.message);
        }
    }
    running_[u.id] = false;
}

}  // namespace clove::proxy
