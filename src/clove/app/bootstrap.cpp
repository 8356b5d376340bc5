#include "clove/app/bootstrap.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <stdexcept>

#include "clove/base/log.hpp"
#include "clove/storage/repository.hpp"

namespace clove::app {

using storage::Session;
using storage::Value;

namespace {

void MakeDirs(const std::string& dir) {
    std::string cur;
    size_t pos = 0;
    while (pos != std::string::npos) {
        pos = dir.find('/', pos + 1);
        cur = dir.substr(0, pos);
        if (cur.empty()) {
            continue;
        }
        if (::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) {
            throw std::runtime_error("cannot create the data directory " + dir + ": " + std::strerror(errno));
        }
    }
}

std::vector<std::string> SplitComma(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        size_t comma = s.find(',', start);
        if (comma == std::string::npos) {
            comma = s.size();
        }
        std::string item = s.substr(start, comma - start);
        while (!item.empty() && item.front() == ' ') item.erase(item.begin());
        while (!item.empty() && item.back() == ' ') item.pop_back();
        if (!item.empty()) {
            out.push_back(item);
        }
        start = comma + 1;
    }
    return out;
}

}  // namespace

std::unique_ptr<storage::Database> OpenDatabase(const config::Config& c) {
    MakeDirs(c.storage.data_dir);
    std::unique_ptr<storage::Database> db;
    if (!c.storage.database_url.empty()) {
        db = storage::OpenPostgres(c.storage.database_url, 2000);
    } else {
        db = storage::OpenSqlite(c.storage.data_dir + "/clove.db", c.storage.full_sync);
    }
    int applied = storage::Migrate(*db);
    if (applied > 0) {
        log::info("database: {} migration(s) applied, schema version {}", applied, storage::LatestSchemaVersion());
    }
    return db;
}

bool Seed(storage::Database& db, const auth::SecretBox& box, const config::Config& c) {
    return db.Write([&](Session& s) {
        const bool seeded = storage::GetMeta(s, "seeded").has_value();
        if (seeded && !c.apply_config) {
            return false;
        }
        const std::string actor = c.apply_config ? "config:--apply-config" : "config:first-start";
        const int64_t now = storage::NowMs();
        for (const auto& u : c.upstreams) {
            auto row = storage::FindUpstreamByName(s, u.name);
            storage::UpstreamRow r = row.value_or(storage::UpstreamRow{});
            r.cfg = u;
            r.cfg.api_key.clear();
            r.cfg.api_keys.clear();
            r.priority = u.priority;
            r.weight = u.weight;
            r.credential_concurrency = u.credential_concurrency;
            r.updated_at = now;
            if (!row) {
                r.id = auth::GenerateId("up_");
                r.created_at = now;
                storage::InsertUpstream(s, r);
                storage::AppendAudit(s, actor, "create", "upstream", r.id, "{\"name\":\"" + u.name + "\"}");
            } else {
                storage::UpdateUpstream(s, r);
                storage::AppendAudit(s, actor, "update", "upstream", r.id, "{\"name\":\"" + u.name + "\"}");
            }
            std::vector<std::string> keys;
            if (u.auth == config::UpstreamAuth::kKey && !u.api_key.empty()) {
                keys.push_back(u.api_key);
                keys.insert(keys.end(), u.api_keys.begin(), u.api_keys.end());
            }
            for (const auto& key : keys) {
                auto fp = box.Fingerprint(key);
                if (!storage::FindCredentialByFingerprint(s, r.id, fp)) {
                    storage::CredentialRow cr;
                    cr.id = auth::GenerateId("cred_");
                    cr.upstream_id = r.id;
                    cr.label = "from config";
                    cr.sealed = box.Seal(key, cr.id);
                    cr.fingerprint = fp;
                    cr.hint = auth::Hint(key);
                    cr.created_at = now;
                    storage::InsertCredential(s, cr);
                    storage::AppendAudit(s, actor, "create", "credential", cr.id, "{\"hint\":\"" + cr.hint + "\"}");
                }
            }
        }
        for (const auto& k : c.client_keys) {
            const std::string hash = auth::Sha256Hex(k.key);
            auto row = storage::FindClientKeyByName(s, k.name);
            if (!row) {
                storage::ClientKeyRow r;
                r.id = auth::GenerateId("key_");
                r.name = k.name;
                r.prefix = auth::DisplayPrefix(k.key);
                r.hash = hash;
                r.created_at = now;
                storage::InsertClientKey(s, r);
                storage::AppendAudit(s, actor, "create", "client_key", r.id, "{\"name\":\"" + k.name + "\"}");
            } else if (row->hash != hash) {
                s.Exec("UPDATE client_keys SET hash = ?, prefix = ? WHERE id = ?",
                       {Value{hash}, Value{auth::DisplayPrefix(k.key)}, Value{row->id}});
                storage::AppendAudit(s, actor, "update", "client_key", row->id, "{\"name\":\"" + k.name + "\"}");
            }
        }
        auto settings = storage::LoadSettings(s);
        settings.log_level = c.log_level;
        if (c.outbound_proxy) {
            settings.outbound_proxy = c.outbound_proxy;
        }
        storage::SaveSettings(s, settings);
        storage::SetMeta(s, "seeded", std::to_string(now));
        return true;
    });
}

void SetupAdminKeys(storage::Database& db, admin::Services& services, const std::optional<std::string>& env_keys) {
    admin::AdminAuth& auth = services.auth;
    if (env_keys && !env_keys->empty()) {
        auto keys = SplitComma(*env_keys);
        if (keys.empty()) {
            throw std::runtime_error("ADMIN_API_KEYS: no key given");
        }
        for (const auto& k : keys) {
            if (k.size() < 16) {
                throw std::runtime_error("ADMIN_API_KEYS: every admin key must be at least 16 characters");
            }
            auth.Add(proxy::DigestKey(k), auth::DisplayPrefix(k));
        }
        log::info("admin API: {} admin key(s) from ADMIN_API_KEYS", keys.size());
    }
    // Keys created through the admin API are honoured in every case; the key generated at the
    // first start only while ADMIN_API_KEYS is not set (setting it replaces that key).
    std::string generated;
    if (!auth.HasEnvKeys()) {
        db.Write([&](Session& s) {
            if (storage::CountAdminKeys(s) == 0) {
                generated = auth::GenerateKey("clv_admin_");
                const std::string id = auth::GenerateId("adm_");
                storage::InsertAdminKey(s, id, storage::kGeneratedAdminKeyName, generated.substr(0, 14),
                                        auth::Sha256Hex(generated));
                storage::AppendAudit(s, "system", "create", "admin_key", id, "{\"source\":\"first start\"}");
            }
        });
    }
    services.ReloadAdminKeys();
    if (!generated.empty()) {
        // Printed once, to stdout only (not the log): the operator stores it now.
        std::cout << "admin key (shown once, store it now): " << generated << std::endl;
        log::info("admin API: a new admin key was generated and printed to stdout once; only its hash is stored");
    }
}

}  // namespace clove::app
