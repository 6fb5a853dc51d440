#pragma once
// Thin RAII over the SQLite C API: a connection and prepared statements that reset themselves,
// with every error turned into ResultsDbError naming the database file.
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace biaslab::results::sqlite {

class Connection;

// A prepared statement. Use `Binder` to run it once; it resets and clears bindings afterwards.
class Statement {
 public:
  Statement(Connection& db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  sqlite3_stmt* get() const { return stmt_; }
  Connection& connection() const { return *db_; }

 private:
  Connection* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// One execution of a statement: bind parameters (1-based), step through rows, read columns.
class Query {
 public:
  explicit Query(Statement& s);
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int i, std::string_view v);
  Query& bind(int i, double v);
  Query& bind(int i, std::int64_t v);
  Query& bind_null(int i);
  template <class T>
  Query& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind_null(i);
  }

  // True while a row is available.
  bool step();
  // Runs a statement that returns no rows.
  void run();

  bool is_null(int col) const;
  std::string text(int col) const;
  double real(int col) const;
  std::int64_t integer(int col) const;

 private:
  Statement& s_;
};

class Connection {
 public:
  Connection(const std::filesystem::path& file, int open_flags);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* get() const { return db_; }
  const std::filesystem::path& file() const { return file_; }

  // Runs one or more statements without results (schema, pragmas, BEGIN/COMMIT).
  void exec(std::string_view sql);
  // Throws ResultsDbError "<what>: results database <file>: <sqlite message>".
  [[noreturn]] void fail(std::string_view what) const;

 private:
  std::filesystem::path file_;
  sqlite3* db_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back when destroyed uncommitted.
class Transaction {
 public:
  explicit Transaction(Connection& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& db_;
  bool done_ = false;
};

}  // namespace biaslab::results::sqlite
