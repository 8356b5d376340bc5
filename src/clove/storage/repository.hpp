#pragma once

#include <boost/json/object.hpp>

// Typed access to every table. Free functions over a Session, so a handler can combine a change
// and its audit entry in one transaction (`db.Write([&](Session& s) { ...; AppendAudit(s, ...); })`).
// All blocking: call them off the I/O threads.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "clove/auth/secrets.hpp"
#include "clove/config/runtime.hpp"
#include "clove/storage/db.hpp"
#include "clove/usage/record.hpp"

namespace clove::storage {

int64_t NowMs();

struct UpstreamRow {
    std::string id;
    config::UpstreamConfig cfg;  ///< name, base_url, auth, models, model_map, timeouts
    int priority = 0;
    int weight = 1;
    bool enabled = true;
    int64_t credential_concurrency = 0;
    int64_t created_at = 0;
    int64_t updated_at = 0;
};

struct CredentialRow {
    std::string id;
    std::string upstream_id;
    std::string label;
    std::string sealed;       ///< SecretBox::Seal(key, id)
    std::string fingerprint;  ///< SecretBox::Fingerprint(key)
    std::string hint;
    bool enabled = true;
    std::string state = "valid";
    std::optional<std::string> last_error;
    std::optional<int64_t> cooldown_until;
    int64_t created_at = 0;
    std::optional<int64_t> last_used_at;
};

struct ClientKeyRow {
    std::string id;
    std::string name;
    std::string prefix;
    std::string hash;  ///< SHA-256 hex
    bool enabled = true;
    int64_t created_at = 0;
    std::optional<int64_t> last_used_at;
    std::optional<int64_t> expires_at;
    std::vector<std::string> allowed_models;
    config::Limits limits;
};

struct AuditRow {
    int64_t id = 0;
    int64_t ts = 0;
    std::string actor;
    std::string action;
    std::string resource;
    std::string resource_id;
    std::string detail;  ///< JSON object text
};

// ---- upstreams ----
std::vector<UpstreamRow> ListUpstreams(Session& s);
std::optional<UpstreamRow> GetUpstream(Session& s, const std::string& id);
std::optional<UpstreamRow> FindUpstreamByName(Session& s, const std::string& name);
/// The `openai` options object as the admin API and the database store it.
boost::json::object OpenAIOptionsToJson(const config::OpenAIOptions& o);
/// Applies the fields present in `in` to `o` (all or nothing). False: `field` and `message` say why.
bool ApplyOpenAIOptionsJson(const boost::json::object& in, config::OpenAIOptions& o, std::string& field,
                            std::string& message);

void InsertUpstream(Session& s, const UpstreamRow& u);
bool UpdateUpstream(Session& s, const UpstreamRow& u);
bool DeleteUpstream(Session& s, const std::string& id);

// ---- credentials ----
std::vector<CredentialRow> ListCredentials(Session& s, const std::optional<std::string>& upstream_id);
std::optional<CredentialRow> GetCredential(Session& s, const std::string& id);
std::optional<CredentialRow> FindCredentialByFingerprint(Session& s, const std::string& upstream_id,
                                                         const std::string& fingerprint);
void InsertCredential(Session& s, const CredentialRow& c);
bool UpdateCredential(Session& s, const CredentialRow& c);
bool DeleteCredential(Session& s, const std::string& id);

struct KeySpend {
    std::string key_id;
    int64_t since_day = 0, since_month = 0, total = 0;  ///< nano-USD
};
/// Spend per client key from the usage rows: since `day_start`, since `month_start` (Unix ms) and
/// in total (start-up seeding of the budget counters).
std::vector<KeySpend> SpendByKey(Session& s, int64_t day_start, int64_t month_start);
/// Stores a credential's routing state (valid | cooling_down | invalid), its last error and
/// cooldown end. False when the credential no longer exists.
bool UpdateCredentialState(Session& s, const std::string& id, const std::string& state,
                           const std::optional<std::string>& last_error, const std::optional<int64_t>& cooldown_until);

// ---- client keys ----
std::vector<ClientKeyRow> ListClientKeys(Session& s);
std::optional<ClientKeyRow> GetClientKey(Session& s, const std::string& id);
std::optional<ClientKeyRow> FindClientKeyByName(Session& s, const std::string& name);
void InsertClientKey(Session& s, const ClientKeyRow& k);
bool UpdateClientKey(Session& s, const ClientKeyRow& k);
bool DeleteClientKey(Session& s, const std::string& id);

// ---- admin keys (hashes only) ----
int64_t CountAdminKeys(Session& s);
std::vector<std::string> AdminKeyHashes(Session& s);
/// `created_at` 0 = now.
void InsertAdminKey(Session& s, const std::string& id, const std::string& name, const std::string& prefix,
                    const std::string& hash, int64_t created_at = 0);
/// The name of the key generated at first start (superseded by ADMIN_API_KEYS when that is set).
inline constexpr const char* kGeneratedAdminKeyName = "generated at first start";
struct AdminKeyRow {
    std::string id, name, prefix, hash;
    int64_t created_at = 0;
};
std::vector<AdminKeyRow> ListAdminKeys(Session& s);
bool DeleteAdminKey(Session& s, const std::string& id);

// ---- settings, prices, meta ----
config::Settings LoadSettings(Session& s);
void SaveSettings(Session& s, const config::Settings& settings);
std::optional<std::string> GetMeta(Session& s, const std::string& name);
void SetMeta(Session& s, const std::string& name, const std::string& value);
std::vector<config::PriceSpec> ListPriceOverrides(Session& s);
void UpsertPrice(Session& s, const config::PriceSpec& p);
bool DeletePrice(Session& s, const std::string& model);

// ---- audit ----
void AppendAudit(Session& s, const std::string& actor, const std::string& action, const std::string& resource,
                 const std::string& resource_id, const std::string& detail_json);
std::vector<AuditRow> ListAudit(Session& s, int limit, std::optional<int64_t> before_id);

// ---- the runtime state a snapshot is built from (credentials decrypted) ----
config::RuntimeState LoadRuntimeState(Session& s, const auth::SecretBox& box);

// ---- usage ----
/// Inserts the records and folds them into the hourly rollup and the keys'/credentials'
/// last_used_at. With `replay` (records from the spool, which may hold a batch the database
/// committed without confirming) a record already present (same ts and request_id, found through
/// the ts index) is skipped. There is no unique index on request_id: it was the costliest part of
/// every insert, and only replays can repeat a record. Returns how many were inserted.
size_t InsertUsage(Session& s, std::span<const usage::UsageRecord> records, bool replay = false);

struct UsageFilter {
    std::optional<std::string> key_id, upstream_id, credential_id, model;
    std::optional<int> status;                  ///< exact
    std::optional<std::pair<int, int>> status_range;  ///< [lo, hi]
    std::optional<int64_t> from_ms, to_ms;
    std::optional<int64_t> before_id;  ///< cursor
    int limit = 50;
};
struct UsageRow {
    int64_t id = 0;
    usage::UsageRecord r;
};
std::vector<UsageRow> QueryUsage(Session& s, const UsageFilter& f);
/// The backend's query plan for QueryUsage(f) (tests assert it uses an index).
std::string ExplainUsageQuery(Session& s, const UsageFilter& f);

struct SummaryRow {
    std::string group;
    int64_t requests = 0, errors = 0, input_tokens = 0, output_tokens = 0, cache_creation_tokens = 0,
            cache_read_tokens = 0, cost_nanousd = 0;
};
/// group_by: key | upstream | credential | model | hour | day, over [from, to) exactly: whole
/// hours from the hourly rollup, the partial hours at the ends from the rows.
std::vector<SummaryRow> SummarizeUsage(Session& s, const std::string& group_by, int64_t from_ms, int64_t to_ms);
/// Latency of the most recent `max_rows` requests in [from, to): TTFB (requests that got a first
/// byte) and duration, unsorted, plus how many requests the range holds in all.
struct LatencySample {
    std::vector<double> ttfb_ms, duration_ms;
    int64_t total = 0;
};
LatencySample SampleLatency(Session& s, int64_t from_ms, int64_t to_ms, int64_t max_rows);
/// Failed requests (status >= 400) in [from, to) by error type and status, most frequent first.
struct ErrorCount {
    std::string type;
    int64_t status = 0, count = 0;
};
std::vector<ErrorCount> CountErrors(Session& s, int64_t from_ms, int64_t to_ms);
/// Totals per client key over all time (for key lists): key_id -> row.
std::vector<SummaryRow> KeyTotals(Session& s);
/// Deletes usage rows and rollups older than `cutoff_ms`, at most `max_rows` rows per call.
int64_t PruneUsage(Session& s, int64_t cutoff_ms, int64_t max_rows);

}  // namespace clove::storage
