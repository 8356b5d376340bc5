// PostgreSQL backend over libpq. Every statement runs with a deadline (non-blocking send, poll
// for the answer): a database that is down or stopped (SIGSTOP) makes calls fail within the
// deadline instead of hanging, so the admin API can answer 503 and the usage writer can spool.

#include <libpq-fe.h>
#include <poll.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <string>
#include <type_traits>
#include <unordered_map>

#include "clove/base/shared_library.hpp"
#include "clove/storage/db.hpp"

namespace clove::storage {

namespace {

using Clock = std::chrono::steady_clock;

/// libpq, loaded on first use (dlopen) instead of linked: an embedded-SQLite deployment never maps
/// it nor its dependencies (Kerberos, LDAP, GnuTLS, ~3.4 MB of resident pages), and the binary
/// starts without libpq installed. The header still gives the exact signatures.
struct LibPq {
    decltype(&::PQclear) PQclear = nullptr;
    decltype(&::PQcmdTuples) PQcmdTuples = nullptr;
    decltype(&::PQconnectdbParams) PQconnectdbParams = nullptr;
    decltype(&::PQconsumeInput) PQconsumeInput = nullptr;
    decltype(&::PQerrorMessage) PQerrorMessage = nullptr;
    decltype(&::PQfinish) PQfinish = nullptr;
    decltype(&::PQflush) PQflush = nullptr;
    decltype(&::PQgetResult) PQgetResult = nullptr;
    decltype(&::PQgetisnull) PQgetisnull = nullptr;
    decltype(&::PQgetlength) PQgetlength = nullptr;
    decltype(&::PQgetvalue) PQgetvalue = nullptr;
    decltype(&::PQisBusy) PQisBusy = nullptr;
    decltype(&::PQnfields) PQnfields = nullptr;
    decltype(&::PQntuples) PQntuples = nullptr;
    decltype(&::PQresultErrorField) PQresultErrorField = nullptr;
    decltype(&::PQresultStatus) PQresultStatus = nullptr;
    decltype(&::PQsendQuery) PQsendQuery = nullptr;
    decltype(&::PQsendQueryParams) PQsendQueryParams = nullptr;
    decltype(&::PQsetNoticeProcessor) PQsetNoticeProcessor = nullptr;
    decltype(&::PQsetnonblocking) PQsetnonblocking = nullptr;
    decltype(&::PQsocket) PQsocket = nullptr;
    decltype(&::PQstatus) PQstatus = nullptr;
    decltype(&::PQtransactionStatus) PQtransactionStatus = nullptr;

    std::string error;  ///< why loading failed; empty when every symbol resolved
};

const LibPq& Pq() {
    static const LibPq lib = [] {
        LibPq l;
        base::SharedLibrary so("libpq.so.5", "libpq5");
        so.Resolve(l.PQclear, "PQclear");
        so.Resolve(l.PQcmdTuples, "PQcmdTuples");
        so.Resolve(l.PQconnectdbParams, "PQconnectdbParams");
        so.Resolve(l.PQconsumeInput, "PQconsumeInput");
        so.Resolve(l.PQerrorMessage, "PQerrorMessage");
        so.Resolve(l.PQfinish, "PQfinish");
        so.Resolve(l.PQflush, "PQflush");
        so.Resolve(l.PQgetResult, "PQgetResult");
        so.Resolve(l.PQgetisnull, "PQgetisnull");
        so.Resolve(l.PQgetlength, "PQgetlength");
        so.Resolve(l.PQgetvalue, "PQgetvalue");
        so.Resolve(l.PQisBusy, "PQisBusy");
        so.Resolve(l.PQnfields, "PQnfields");
        so.Resolve(l.PQntuples, "PQntuples");
        so.Resolve(l.PQresultErrorField, "PQresultErrorField");
        so.Resolve(l.PQresultStatus, "PQresultStatus");
        so.Resolve(l.PQsendQuery, "PQsendQuery");
        so.Resolve(l.PQsendQueryParams, "PQsendQueryParams");
        so.Resolve(l.PQsetNoticeProcessor, "PQsetNoticeProcessor");
        so.Resolve(l.PQsetnonblocking, "PQsetnonblocking");
        so.Resolve(l.PQsocket, "PQsocket");
        so.Resolve(l.PQstatus, "PQstatus");
        so.Resolve(l.PQtransactionStatus, "PQtransactionStatus");
        l.error = so.error();
        return l;
    }();
    return lib;
}


/// `?` placeholders → `$1..$n` (our SQL has no `?` inside string literals; quotes are skipped anyway).
std::string RewritePlaceholders(std::string_view sql) {
    std::string out;
    out.reserve(sql.size() + 16);
    int n = 0;
    bool quoted = false;
    for (char c : sql) {
        if (c == '\'') {
            quoted = !quoted;
        }
        if (c == '?' && !quoted) {
            out += '$';
            out += std::to_string(++n);
        } else {
            out += c;
        }
    }
    return out;
}

/// Shared by the sessions of one database: after a statement found the server unreachable,
/// calls fail at once for a short while instead of each waiting out its own deadline (a stopped
/// server would otherwise make every caller queue behind the previous one's timeout).
struct Breaker {
    std::atomic<int64_t> open_until_ms{0};
    static int64_t Now() {
        return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
    }
    bool Open() const { return Now() < open_until_ms.load(std::memory_order_relaxed); }
    void Trip() { open_until_ms.store(Now() + 1000, std::memory_order_relaxed); }
};

class PgSession final : public Session {
public:
    PgSession(std::string url, int timeout_ms, Breaker& breaker)
        : url_(std::move(url)), timeout_(timeout_ms), breaker_(breaker) {}
    ~PgSession() override { Drop(); }

    Backend backend() const override { return Backend::kPostgres; }

    int64_t Exec(std::string_view sql, std::span<const Value> params) override {
        auto res = Run(Sql(sql), params);
        const char* n = Pq().PQcmdTuples(res.get());
        return (n && *n) ? std::strtoll(n, nullptr, 10) : 0;
    }

    std::vector<Row> Query(std::string_view sql, std::span<const Value> params) override {
        auto res = Run(Sql(sql), params);
        std::vector<Row> rows;
        const int nrows = Pq().PQntuples(res.get());
        const int ncols = Pq().PQnfields(res.get());
        rows.reserve(nrows);
        for (int r = 0; r < nrows; ++r) {
            Row row;
            row.cols.reserve(ncols);
            for (int c = 0; c < ncols; ++c) {
                if (Pq().PQgetisnull(res.get(), r, c)) {
                    row.cols.emplace_back(std::nullopt);
                } else {
                    row.cols.emplace_back(std::string(Pq().PQgetvalue(res.get(), r, c), Pq().PQgetlength(res.get(), r, c)));
                }
            }
            rows.push_back(std::move(row));
        }
        return rows;
    }

    void ExecScript(std::string_view sql) override { Run(std::string(sql), {}, /*simple=*/true); }

    void Begin() override { Run("BEGIN", {}, true); }
    void Commit() override { Run("COMMIT", {}, true); }
    void Rollback() noexcept override {
        try {
            if (conn_ && Pq().PQtransactionStatus(conn_) != PQTRANS_IDLE) {
                Run("ROLLBACK", {}, true);
            }
        } catch (...) {
            Drop();
        }
    }

private:
    struct ResultDeleter {
        void operator()(PGresult* r) const { Pq().PQclear(r); }
    };
    using Result = std::unique_ptr<PGresult, ResultDeleter>;

    const std::string& Sql(std::string_view sql) {
        auto it = rewritten_.find(std::string(sql));
        if (it == rewritten_.end()) {
            it = rewritten_.emplace(std::string(sql), RewritePlaceholders(sql)).first;
        }
        return it->second;
    }

    void Drop() noexcept {
        if (conn_) {
            Pq().PQfinish(conn_);
            conn_ = nullptr;
        }
    }

    [[noreturn]] void Unavailable(const std::string& what) {
        Drop();
        throw DbError("postgres: " + what, true);
    }

    void Connect() {
        Drop();
        std::string seconds = std::to_string(std::max(1, (timeout_ + 999) / 1000));
        const char* keys[] = {"dbname", "connect_timeout", "application_name", "keepalives_idle",
                              "tcp_user_timeout", nullptr};
        std::string user_timeout = std::to_string(timeout_ * 2);
        const char* vals[] = {url_.c_str(), seconds.c_str(), "clove", "10", user_timeout.c_str(), nullptr};
        conn_ = Pq().PQconnectdbParams(keys, vals, /*expand_dbname=*/1);
        if (!conn_ || Pq().PQstatus(conn_) != CONNECTION_OK) {
            std::string msg = conn_ ? Pq().PQerrorMessage(conn_) : "out of memory";
            while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) {
                msg.pop_back();
            }
            Unavailable("cannot connect: " + msg);
        }
        Pq().PQsetnonblocking(conn_, 1);
        // Warnings/notices (e.g. "relation already exists, skipping") are not errors.
        Pq().PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
    }

    /// Waits for `events` on the connection's socket until the deadline. False on timeout.
    bool Wait(short events, Clock::time_point deadline) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            return false;
        }
        pollfd p{Pq().PQsocket(conn_), events, 0};
        int rc = ::poll(&p, 1, static_cast<int>(left));
        return rc > 0 || (rc < 0 && errno == EINTR);
    }

    /// Abandons a statement that missed its deadline. No PQcancel: it opens a new connection and
    /// waits for the server without a timeout, which hangs for as long as a stopped server does.
    /// Closing the connection makes the server end the statement when it next looks at it.
    void CancelAndDrop() {
        Drop();
        timed_out_ = true;
    }

    /// Runs one statement. A kept connection that turns out dead (the server restarted) outside a
    /// transaction is replaced and the statement sent once more: nothing ran on the dead one.
    /// When the server cannot be reached the breaker opens, so other callers fail fast.
    Result Run(const std::string& sql, std::span<const Value> params, bool simple = false) {
        const bool idle = !conn_ || Pq().PQtransactionStatus(conn_) == PQTRANS_IDLE;
        if (breaker_.Open() && idle) {
            throw DbError("postgres: unavailable (retrying shortly)", true);
        }
        const bool reused = conn_ != nullptr;
        timed_out_ = false;
        try {
            return RunOnce(sql, params, simple);
        } catch (const DbError& e) {
            if (!e.unavailable()) {
                throw;
            }
            if (reused && idle && !timed_out_) {
                try {
                    return RunOnce(sql, params, simple);
                } catch (const DbError& again) {
                    if (again.unavailable()) {
                        breaker_.Trip();
                    }
                    throw;
                }
            }
            breaker_.Trip();
            throw;
        }
    }

    Result RunOnce(const std::string& sql, std::span<const Value> params, bool simple) {
        if (!conn_ || Pq().PQstatus(conn_) != CONNECTION_OK) {
            if (conn_ && Pq().PQtransactionStatus(conn_) != PQTRANS_IDLE) {
                Unavailable("connection lost");
            }
            Connect();
        }
        const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_);
        std::vector<std::string> texts(params.size());
        std::vector<const char*> values(params.size(), nullptr);
        for (size_t i = 0; i < params.size(); ++i) {
            std::visit(
                [&](const auto& v) {
                    using T = std::decay_t<decltype(v)>;
                    if constexpr (std::is_same_v<T, std::monostate>) {
                        values[i] = nullptr;
                    } else if constexpr (std::is_same_v<T, int64_t>) {
                        texts[i] = std::to_string(v);
                        values[i] = texts[i].c_str();
                    } else if constexpr (std::is_same_v<T, double>) {
                        texts[i] = fmt::format("{}", v);
                        values[i] = texts[i].c_str();
                    } else if constexpr (std::is_same_v<T, std::string_view>) {
                        texts[i] = std::string(v);  // libpq wants NUL-terminated text
                        values[i] = texts[i].c_str();
                    } else {
                        values[i] = v.c_str();
                    }
                },
                params[i]);
        }
        int sent = simple ? Pq().PQsendQuery(conn_, sql.c_str())
                          : Pq().PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                                              values.data(), nullptr, nullptr, 0);
        if (!sent) {
            Unavailable(Pq().PQerrorMessage(conn_));
        }
        for (;;) {
            int f = Pq().PQflush(conn_);
            if (f == 0) {
                break;
            }
            if (f < 0 || !Wait(POLLOUT | POLLIN, deadline)) {
                CancelAndDrop();
                throw DbError("postgres: timed out sending a statement", true);
            }
            if (!Pq().PQconsumeInput(conn_)) {
                Unavailable(Pq().PQerrorMessage(conn_));
            }
        }
        Result last;
        for (;;) {
            while (Pq().PQisBusy(conn_)) {
                if (!Wait(POLLIN, deadline)) {
                    CancelAndDrop();
                    throw DbError(fmt::format("postgres: no answer within {} ms", timeout_), true);
                }
                if (!Pq().PQconsumeInput(conn_)) {
                    Unavailable(Pq().PQerrorMessage(conn_));
                }
            }
            PGresult* r = Pq().PQgetResult(conn_);
            if (!r) {
                break;
            }
            Result res(r);
            auto st = Pq().PQresultStatus(r);
            if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR || st == PGRES_BAD_RESPONSE) {
                const char* state = Pq().PQresultErrorField(r, PG_DIAG_SQLSTATE);
                std::string code = state ? state : "";
                std::string msg = Pq().PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
                                      ? Pq().PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
                                      : Pq().PQerrorMessage(conn_);
                // Drain the rest of the results before reporting.
                while (PGresult* more = Pq().PQgetResult(conn_)) {
                    Pq().PQclear(more);
                    if (Pq().PQisBusy(conn_) && !Wait(POLLIN, deadline)) {
                        CancelAndDrop();
                        break;
                    }
                }
                bool unavailable = Pq().PQstatus(conn_) != CONNECTION_OK || code.rfind("08", 0) == 0 ||
                                   code.rfind("57P", 0) == 0 || code == "53300";
                if (unavailable) {
                    Drop();
                }
                throw DbError(fmt::format("postgres: {} ({})", msg, code), unavailable, code.rfind("23", 0) == 0);
            }
            last = std::move(res);
        }
        if (Pq().PQstatus(conn_) != CONNECTION_OK) {
            Unavailable("connection lost");
        }
        return last;
    }

    std::string url_;
    int timeout_;
    Breaker& breaker_;
    PGconn* conn_ = nullptr;
    bool timed_out_ = false;
    std::unordered_map<std::string, std::string> rewritten_;
};

class PgDatabase final : public Database {
public:
    PgDatabase(const std::string& url, int timeout_ms)
        : writer_(url, timeout_ms, breaker_), reader_(url, timeout_ms, breaker_),
          usage_(url, std::max(timeout_ms, 5000), usage_breaker_) {
        writer_.Query("SELECT 1", {});  // fail fast at start when unreachable
        // Connect the usage writer's session now, so the first batch does not pay for it.
        usage_.Query("SELECT 1", {});
    }
    Backend backend() const override { return Backend::kPostgres; }

protected:
    Session& WriterSession() override { return writer_; }
    Session& ReaderSession() override { return reader_; }
    Session& UsageSession() override { return usage_; }

private:
    Breaker breaker_;        ///< admin connections
    Breaker usage_breaker_;  ///< the usage writer retries on its own schedule
    PgSession writer_;
    PgSession reader_;
    PgSession usage_;
};

}  // namespace

std::unique_ptr<Database> OpenPostgres(const std::string& url, int statement_timeout_ms) {
    if (!Pq().error.empty()) {
        throw DbError("postgres: " + Pq().error, false);
    }
    return std::make_unique<PgDatabase>(url, statement_timeout_ms);
}

}  // namespace clove::storage
