#include "results/sqlite.hpp"

#include "biaslab/results_db.hpp"

namespace biaslab::results::sqlite {

Connection::Connection(const std::filesystem::path& file, int open_flags) : file_(file) {
  int rc = sqlite3_open_v2(file.c_str(), &db_, open_flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw ResultsDbError("cannot open results database " + file.string() + ": " + msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  // Another process (e.g. `biaslab results` during a run) may hold the lock briefly.
  sqlite3_busy_timeout(db_, 10000);
}

Connection::~Connection() { sqlite3_close_v2(db_); }

void Connection::exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    throw ResultsDbError("results database " + file_.string() + ": " + msg + " (in: " +
                         text.substr(0, 80) + ")");
  }
}

void Connection::fail(std::string_view what) const {
  throw ResultsDbError(std::string(what) + ": results database " + file_.string() + ": " +
                       sqlite3_errmsg(db_));
}

Statement::Statement(Connection& db, std::string_view sql) : db_(&db) {
  if (sqlite3_prepare_v3(db.get(), sql.data(), static_cast<int>(sql.size()),
                         SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK)
    db.fail("cannot prepare statement '" + std::string(sql.substr(0, 60)) + "'");
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Query::Query(Statement& s) : s_(s) {}

Query::~Query() {
  sqlite3_reset(s_.get());
  sqlite3_clear_bindings(s_.get());
}

Query& Query::bind(int i, std::string_view v) {
  if (sqlite3_bind_text64(s_.get(), i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8) !=
      SQLITE_OK)
    s_.connection().fail("cannot bind parameter");
  return *this;
}

Query& Query::bind(int i, double v) {
  if (sqlite3_bind_double(s_.get(), i, v) != SQLITE_OK)
    s_.connection().fail("cannot bind parameter");
  return *this;
}

Query& Query::bind(int i, std::int64_t v) {
  if (sqlite3_bind_int64(s_.get(), i, v) != SQLITE_OK)
    s_.connection().fail("cannot bind parameter");
  return *this;
}

Query& Query::bind_null(int i) {
  if (sqlite3_bind_null(s_.get(), i) != SQLITE_OK) s_.connection().fail("cannot bind parameter");
  return *this;
}

bool Query::step() {
  int rc = sqlite3_step(s_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  s_.connection().fail("query failed");
}

void Query::run() {
  while (step()) {
  }
}

bool Query::is_null(int col) const { return sqlite3_column_type(s_.get(), col) == SQLITE_NULL; }

std::string Query::text(int col) const {
  const unsigned char* p = sqlite3_column_text(s_.get(), col);
  int n = sqlite3_column_bytes(s_.get(), col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
           : std::string();
}

double Query::real(int col) const { return sqlite3_column_double(s_.get(), col); }

std::int64_t Query::integer(int col) const { return sqlite3_column_int64(s_.get(), col); }

Transaction::Transaction(Connection& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!done_) sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace biaslab::results::sqlite
