#pragma once

// A small database access layer with two backends (SQLite, PostgreSQL) behind one interface.
// SQL is written once with `?` placeholders; the PostgreSQL session rewrites them to `$n`.
// Values travel as text or int64/double; results come back as text columns (NULL = nullopt),
// which is all the admin paths and the usage writer need.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace clove::storage {

enum class Backend { kSqlite, kPostgres };

/// A bound parameter. std::string_view is for callers whose strings outlive the statement (the
/// usage writer binds thousands per batch without copying them).
using Value = std::variant<std::monostate, int64_t, double, std::string, std::string_view>;

/// A failed statement. `unavailable` = the database cannot be reached (connect failure, timeout,
/// lost connection): callers answer 503 and the usage writer spools. `constraint` = a UNIQUE or
/// foreign key violation: callers answer 409.
class DbError : public std::runtime_error {
public:
    DbError(const std::string& what, bool unavailable, bool constraint = false)
        : std::runtime_error(what), unavailable_(unavailable), constraint_(constraint) {}
    bool unavailable() const noexcept { return unavailable_; }
    bool constraint() const noexcept { return constraint_; }

private:
    bool unavailable_;
    bool constraint_;
};

struct Row {
    std::vector<std::optional<std::string>> cols;

    bool Null(size_t i) const { return !cols.at(i).has_value(); }
    const std::string& Text(size_t i) const;  ///< "" for NULL
    int64_t Int(size_t i) const;              ///< 0 for NULL
    double Real(size_t i) const;              ///< 0 for NULL
    std::optional<int64_t> OptInt(size_t i) const;
    const std::optional<std::string>& OptText(size_t i) const { return cols.at(i); }
};

/// One connection. Not thread-safe: Database hands it out under a lock.
class Session {
public:
    virtual ~Session() = default;
    virtual Backend backend() const = 0;
    /// Runs a statement; returns the number of rows changed.
    virtual int64_t Exec(std::string_view sql, std::span<const Value> params = {}) = 0;
    virtual std::vector<Row> Query(std::string_view sql, std::span<const Value> params = {}) = 0;
    /// Runs several `;`-separated statements without parameters (migrations).
    virtual void ExecScript(std::string_view sql) = 0;
    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite).
    virtual void Begin() = 0;
    virtual void Commit() = 0;
    virtual void Rollback() noexcept = 0;

    int64_t Exec(std::string_view sql, std::initializer_list<Value> params) {
        return Exec(sql, std::span<const Value>(params.begin(), params.size()));
    }
    std::vector<Row> Query(std::string_view sql, std::initializer_list<Value> params) {
        return Query(sql, std::span<const Value>(params.begin(), params.size()));
    }
};

/// The database: a writer connection (all writes, SQLite's only writer), a reader connection for
/// admin queries and, on PostgreSQL, a separate connection for the usage writer. Each is used
/// under its own mutex; blocking calls, so callers run them off the I/O threads.
class Database {
public:
    virtual ~Database() = default;
    virtual Backend backend() const = 0;
    std::string_view name() const { return backend() == Backend::kSqlite ? "sqlite" : "postgres"; }

    /// fn(Session&) inside a write transaction; commits when fn returns, rolls back on throw.
    template <class F>
    auto Write(F&& fn) {
        return WithTransaction(writer_mutex_, WriterSession(), std::forward<F>(fn));
    }
    /// fn(Session&) on the reader connection (no transaction).
    template <class F>
    auto Read(F&& fn) {
        std::lock_guard lock(reader_mutex_);
        return fn(ReaderSession());
    }
    /// fn(Session&) inside a write transaction on the usage writer's connection.
    template <class F>
    auto WriteUsage(F&& fn) {
        if (backend() == Backend::kSqlite) {
            return Write(std::forward<F>(fn));
        }
        return WithTransaction(usage_mutex_, UsageSession(), std::forward<F>(fn));
    }

    /// Periodic housekeeping from the usage writer's thread. SQLite: when the WAL file passed
    /// 64 MiB (readers starved the passive auto-checkpoint), a RESTART checkpoint on the writer
    /// connection. Returns a short description of what it did, or "".
    virtual std::string Maintain() { return {}; }

protected:
    std::mutex& WriterMutex() { return writer_mutex_; }
    virtual Session& WriterSession() = 0;
    virtual Session& ReaderSession() = 0;
    virtual Session& UsageSession() = 0;

private:
    template <class F>
    static auto WithTransaction(std::mutex& m, Session& s, F&& fn) {
        std::lock_guard lock(m);
        s.Begin();
        try {
            if constexpr (std::is_void_v<decltype(fn(s))>) {
                fn(s);
                s.Commit();
            } else {
                auto r = fn(s);
                s.Commit();
                return r;
            }
        } catch (...) {
            s.Rollback();
            throw;
        }
    }

    std::mutex writer_mutex_;
    std::mutex reader_mutex_;
    std::mutex usage_mutex_;
};

/// Opens SQLite at `path` (created if missing): WAL, synchronous=NORMAL (FULL when `full_sync`),
/// busy_timeout 5 s; runs `PRAGMA quick_check` and throws DbError when it fails.
std::unique_ptr<Database> OpenSqlite(const std::string& path, bool full_sync = false);

/// Connects to PostgreSQL (`postgres://` URL). Every statement has a deadline of
/// `statement_timeout_ms`; a timeout cancels it and marks the connection for reconnect.
std::unique_ptr<Database> OpenPostgres(const std::string& url, int statement_timeout_ms = 2000);

/// Applies the embedded numbered migrations that are not yet recorded in `schema_migrations`.
/// Returns the number applied.
int Migrate(Database& db);

/// The current schema version (highest migration number).
int LatestSchemaVersion();

}  // namespace clove::storage
