// Numbered schema migrations, embedded in the binary and applied in order at start. Written once
// for both backends; `{{ID}}` becomes the backend's auto-increment primary key. Never edit a
// released migration: add the next number.

#include <fmt/format.h>

#include <chrono>
#include <string>

#include "clove/storage/db.hpp"

namespace clove::storage {

namespace {

struct Migration {
    int version;
    const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, R"SQL(
CREATE TABLE upstreams (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  base_url TEXT NOT NULL,
  auth TEXT NOT NULL,
  models TEXT NOT NULL,
  model_map TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  weight INTEGER NOT NULL DEFAULT 1,
  enabled INTEGER NOT NULL DEFAULT 1,
  connect_timeout_ms BIGINT NOT NULL,
  first_byte_timeout_ms BIGINT NOT NULL,
  stream_idle_timeout_ms BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE credentials (
  id TEXT PRIMARY KEY,
  upstream_id TEXT NOT NULL REFERENCES upstreams(id) ON DELETE CASCADE,
  label TEXT NOT NULL DEFAULT '',
  secret TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  hint TEXT NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 1,
  state TEXT NOT NULL DEFAULT 'valid',
  last_error TEXT,
  cooldown_until BIGINT,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT
);
CREATE UNIQUE INDEX credentials_fingerprint ON credentials(upstream_id, fingerprint);
CREATE TABLE client_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  enabled INTEGER NOT NULL DEFAULT 1,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT,
  expires_at BIGINT,
  allowed_models TEXT NOT NULL DEFAULT '[]',
  limits TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE admin_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  prefix TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL
);
CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE prices (
  model TEXT PRIMARY KEY,
  input DOUBLE PRECISION NOT NULL,
  output DOUBLE PRECISION NOT NULL,
  cache_write_5m DOUBLE PRECISION NOT NULL,
  cache_write_1h DOUBLE PRECISION NOT NULL,
  cache_read DOUBLE PRECISION NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE usage (
  id {{ID}},
  request_id TEXT NOT NULL,
  ts BIGINT NOT NULL,
  key_id TEXT,
  upstream_id TEXT,
  credential_id TEXT,
  model TEXT,
  upstream_model TEXT,
  status INTEGER NOT NULL,
  error_type TEXT,
  stream INTEGER NOT NULL,
  ttfb_ms DOUBLE PRECISION,
  duration_ms DOUBLE PRECISION NOT NULL,
  input_tokens BIGINT NOT NULL DEFAULT 0,
  output_tokens BIGINT NOT NULL DEFAULT 0,
  cache_creation_tokens BIGINT NOT NULL DEFAULT 0,
  cache_creation_5m_tokens BIGINT NOT NULL DEFAULT 0,
  cache_creation_1h_tokens BIGINT NOT NULL DEFAULT 0,
  cache_read_tokens BIGINT NOT NULL DEFAULT 0,
  cost_nanousd BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX usage_ts ON usage(ts);
CREATE INDEX usage_key ON usage(key_id, id);
CREATE INDEX usage_errors ON usage(id) WHERE status >= 400;
CREATE TABLE usage_hourly (
  bucket BIGINT NOT NULL,
  key_id TEXT NOT NULL,
  upstream_id TEXT NOT NULL,
  credential_id TEXT NOT NULL,
  model TEXT NOT NULL,
  requests BIGINT NOT NULL,
  errors BIGINT NOT NULL,
  input_tokens BIGINT NOT NULL,
  output_tokens BIGINT NOT NULL,
  cache_creation_tokens BIGINT NOT NULL,
  cache_read_tokens BIGINT NOT NULL,
  cost_nanousd BIGINT NOT NULL,
  PRIMARY KEY (bucket, key_id, upstream_id, credential_id, model)
);
CREATE TABLE audit (
  id {{ID}},
  ts BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  resource TEXT NOT NULL,
  resource_id TEXT,
  detail TEXT NOT NULL
);
)SQL"},
    {2, R"SQL(
ALTER TABLE upstreams ADD COLUMN credential_concurrency BIGINT NOT NULL DEFAULT 0;
)SQL"},
    {3, R"SQL(
ALTER TABLE upstreams ADD COLUMN proxy_url TEXT;
)SQL"},
    {4, R"SQL(
ALTER TABLE upstreams ADD COLUMN health_check TEXT NOT NULL DEFAULT 'off';
ALTER TABLE upstreams ADD COLUMN health_check_interval_ms BIGINT NOT NULL DEFAULT 60000;
)SQL"},
    {5, R"SQL(
ALTER TABLE upstreams ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
)SQL"},
};

std::string ForBackend(std::string sql, Backend b) {
    const std::string id = b == Backend::kSqlite ? "INTEGER PRIMARY KEY" : "BIGSERIAL PRIMARY KEY";
    for (size_t p; (p = sql.find("{{ID}}")) != std::string::npos;) {
        sql.replace(p, 6, id);
    }
    return sql;
}

}  // namespace

int LatestSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

int Migrate(Database& db) {
    db.Write([](Session& s) {
        s.ExecScript("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
    });
    int applied = 0;
    for (const auto& m : kMigrations) {
        bool done = db.Write([&](Session& s) {
            auto rows = s.Query("SELECT 1 FROM schema_migrations WHERE version = ?", {Value{int64_t{m.version}}});
            if (!rows.empty()) {
                return true;
            }
            s.ExecScript(ForBackend(m.sql, db.backend()));
            auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
            s.Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                   {Value{int64_t{m.version}}, Value{int64_t{now}}});
            return false;
        });
        if (!done) {
            ++applied;
        }
    }
    return applied;
}

}  // namespace clove::storage
