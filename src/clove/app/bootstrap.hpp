#pragma once

// Start-up of the state layer: open the database, apply migrations, seed it from the bootstrap
// config at first start (or with --apply-config), and set up the admin keys.

#include <memory>
#include <optional>
#include <string>

#include "clove/admin/admin_api.hpp"
#include "clove/auth/secrets.hpp"
#include "clove/config/config.hpp"
#include "clove/storage/db.hpp"

namespace clove::app {

/// Creates the data directory (0700) and opens SQLite in it, or PostgreSQL when
/// `database_url` is set; applies migrations. Throws with a message for the operator.
std::unique_ptr<storage::Database> OpenDatabase(const config::Config& c);

/// Writes the config's upstreams (with their api_key as a credential), client keys and log
/// level into the database when it has never been seeded, or always when `c.apply_config`.
/// Upstreams and keys are matched by name. Returns true when it wrote anything.
bool Seed(storage::Database& db, const auth::SecretBox& box, const config::Config& c);

/// Admin keys: from ADMIN_API_KEYS (each >= 16 characters) when set, plus the keys created through
/// the admin API; without ADMIN_API_KEYS also the key generated at first start (generated,
/// printed once to stdout and stored hashed when the database has no admin key at all).
void SetupAdminKeys(storage::Database& db, admin::Services& services, const std::optional<std::string>& env_keys);

}  // namespace clove::app
