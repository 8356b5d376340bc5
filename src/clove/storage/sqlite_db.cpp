// SQLite backend. Rules from docs/architecture.md (storage): one writing connection (Debian's
// SQLite 3.40 has the WAL-reset bug that needs two writers at once), BEGIN IMMEDIATE so
// busy_timeout applies, a separate reader connection that never checkpoints.

#include <sqlite3.h>

#include <fmt/format.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <unordered_map>

#include "clove/storage/db.hpp"

namespace clove::storage {

namespace {

class SqliteSession final : public Session {
public:
    SqliteSession(const std::string& path, bool read_only, bool full_sync) {
        int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        flags |= SQLITE_OPEN_NOMUTEX;
        if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
            std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
            sqlite3_close(db_);
            db_ = nullptr;
            throw DbError(fmt::format("cannot open {}: {}", path, msg), true);
        }
        sqlite3_extended_result_codes(db_, 1);
        sqlite3_busy_timeout(db_, 5000);
        if (!read_only) {
            ExecScript("PRAGMA journal_mode=WAL");
            ExecScript(full_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
            ExecScript("PRAGMA foreign_keys=ON");
            ExecScript("PRAGMA wal_autocheckpoint=8192");
            // The usage table's hot pages (the ends of the table and index b-trees) stay cached
            // across batches; 8 MiB holds them without growing the process much.
            ExecScript("PRAGMA cache_size=-8192");
        } else {
            // Readers must never checkpoint (only the writer does).
            sqlite3_wal_autocheckpoint(db_, 0);
        }
    }
    ~SqliteSession() override {
        for (auto& [sql, st] : statements_) {
            sqlite3_finalize(st);
        }
        sqlite3_close_v2(db_);
    }

    Backend backend() const override { return Backend::kSqlite; }

    int64_t Exec(std::string_view sql, std::span<const Value> params) override {
        sqlite3_stmt* st = Prepare(sql, params);
        Reset reset{st};
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        }
        if (rc != SQLITE_DONE) {
            Fail(rc, sql);
        }
        return sqlite3_changes64(db_);
    }

    std::vector<Row> Query(std::string_view sql, std::span<const Value> params) override {
        sqlite3_stmt* st = Prepare(sql, params);
        Reset reset{st};
        std::vector<Row> rows;
        const int n = sqlite3_column_count(st);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            Row row;
            row.cols.reserve(n);
            for (int i = 0; i < n; ++i) {
                if (sqlite3_column_type(st, i) == SQLITE_NULL) {
                    row.cols.emplace_back(std::nullopt);
                } else {
                    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
                    row.cols.emplace_back(std::string(p, sqlite3_column_bytes(st, i)));
                }
            }
            rows.push_back(std::move(row));
        }
        if (rc != SQLITE_DONE) {
            Fail(rc, sql);
        }
        return rows;
    }

    void ExecScript(std::string_view sql) override {
        std::string s(sql);
        char* err = nullptr;
        int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
        if (rc != SQLITE_OK) {
            std::string msg = err ? err : sqlite3_errstr(rc);
            sqlite3_free(err);
            throw DbError(fmt::format("sqlite: {}", msg), IsUnavailable(rc), IsConstraint(rc));
        }
    }

    void Begin() override { ExecScript("BEGIN IMMEDIATE"); }
    void Commit() override { ExecScript("COMMIT"); }
    void Rollback() noexcept override {
        if (!sqlite3_get_autocommit(db_)) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        }
    }

private:
    struct Reset {
        sqlite3_stmt* st;
        ~Reset() {  // every call binds every parameter again
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);  // no binding outlives the caller's parameters
        }
    };

    /// Statement cache keyed by the SQL text, looked up without building a string.
    struct SqlHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };

    static bool IsUnavailable(int rc) {
        int primary = rc & 0xff;
        return primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_IOERR ||
               primary == SQLITE_FULL || primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY;
    }
    static bool IsConstraint(int rc) { return (rc & 0xff) == SQLITE_CONSTRAINT; }

    [[noreturn]] void Fail(int rc, std::string_view sql) {
        (void)sql;
        throw DbError(fmt::format("sqlite: {}", sqlite3_errmsg(db_)), IsUnavailable(rc), IsConstraint(rc));
    }

    sqlite3_stmt* Prepare(std::string_view sql, std::span<const Value> params) {
        auto it = statements_.find(sql);
        sqlite3_stmt* st;
        if (it != statements_.end()) {
            st = it->second;
        } else {
            int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &st,
                                        nullptr);
            if (rc != SQLITE_OK) {
                Fail(rc, sql);
            }
            statements_.emplace(std::string(sql), st);
        }
        for (size_t i = 0; i < params.size(); ++i) {
            int idx = static_cast<int>(i) + 1;
            int rc = std::visit(
                [&](const auto& v) -> int {
                    using T = std::decay_t<decltype(v)>;
                    if constexpr (std::is_same_v<T, std::monostate>) {
                        return sqlite3_bind_null(st, idx);
                    } else if constexpr (std::is_same_v<T, int64_t>) {
                        return sqlite3_bind_int64(st, idx, v);
                    } else if constexpr (std::is_same_v<T, double>) {
                        return sqlite3_bind_double(st, idx, v);
                    } else {
                        // SQLITE_STATIC: the caller's parameters outlive the step (Exec/Query
                        // step and reset before returning), so SQLite need not copy each text.
                        return sqlite3_bind_text(st, idx, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
                    }
                },
                params[i]);
            if (rc != SQLITE_OK) {
                sqlite3_reset(st);
                Fail(rc, sql);
            }
        }
        return st;
    }

    sqlite3* db_ = nullptr;
    std::unordered_map<std::string, sqlite3_stmt*, SqlHash, std::equal_to<>> statements_;
};

class SqliteDatabase final : public Database {
public:
    static constexpr uintmax_t kWalLimit = 64u << 20;

    SqliteDatabase(const std::string& path, bool full_sync) : path_(path), writer_(path, false, full_sync) {
        auto rows = writer_.Query("PRAGMA quick_check", {});
        if (rows.empty() || rows[0].Text(0) != "ok") {
            throw DbError(fmt::format("{}: PRAGMA quick_check failed: {}", path,
                                      rows.empty() ? std::string("no result") : rows[0].Text(0)),
                          false);
        }
        reader_ = std::make_unique<SqliteSession>(path, true, false);
    }
    Backend backend() const override { return Backend::kSqlite; }

    std::string Maintain() override {
        std::error_code ec;
        auto size = std::filesystem::file_size(path_ + "-wal", ec);
        if (ec || size < kWalLimit) {
            return {};
        }
        std::lock_guard lock(WriterMutex());
        auto rows = writer_.Query("PRAGMA wal_checkpoint(RESTART)", {});
        return fmt::format("WAL was {} MiB: checkpoint (busy={}, frames={}, checkpointed={})", size >> 20,
                           rows.empty() ? "?" : rows[0].Text(0), rows.empty() ? "?" : rows[0].Text(1),
                           rows.empty() ? "?" : rows[0].Text(2));
    }

protected:
    Session& WriterSession() override { return writer_; }
    Session& ReaderSession() override { return *reader_; }
    Session& UsageSession() override { return writer_; }

private:
    std::string path_;
    SqliteSession writer_;
    std::unique_ptr<SqliteSession> reader_;
};

}  // namespace

std::unique_ptr<Database> OpenSqlite(const std::string& path, bool full_sync) {
    // Before SQLite initialises: no global memory statistics, which otherwise take a global
    // mutex on every allocation (measured: a few % of every usage insert).
    static std::once_flag once;
    std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
    return std::make_unique<SqliteDatabase>(path, full_sync);
}

}  // namespace clove::storage
