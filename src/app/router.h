#pragma once
// Routes: which handler answers a method and a path, the way Django's urls.py maps /items/42 to
// a view. A pattern is literal segments and typed parameters:
//   /items/{id:int}     one segment of ASCII digits (an optional leading '-'), fitting an int64
//   /users/{name}       one non-empty segment, any bytes once percent-decoded
//   /files/{path:*}     the rest of the path, slashes included, possibly empty (last only)
// The most specific route wins, segment by segment: a literal over {x:int} over {x} over
// {x:*}, backtracking when a branch leads nowhere, so /items/new, /items/{id:int} and
// /items/{slug} can live side by side. A path that some route matches, but with other
// methods, is a 405 with the methods to put in Allow.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace nuri::app {

struct RouteParam {
  std::string name;
  std::string value;  ///< percent-decoded
};

class Router {
 public:
  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

  /// Adds `method` `pattern` → `id`. False with a one-line `error` for a malformed pattern, an
  /// unknown parameter type, {x:*} not last, a name used twice in one pattern, a parameter whose
  /// name differs from another route's at the same place and of the same type, or the same
  /// method and pattern twice.
  bool add(std::string_view method, std::string_view pattern, std::size_t id, std::string& error);

  struct Match {
    enum class Outcome { found, method_not_allowed, not_found };
    Outcome outcome = Outcome::not_found;
    std::size_t id = 0;               ///< when found
    std::vector<RouteParam> params;   ///< when found, in pattern order
    std::string allow;                ///< when method_not_allowed: "GET, HEAD, POST"
  };

  /// `path` as the request carries it (percent-encoded, without the query). HEAD is answered by
  /// a GET route when no HEAD route is given (RFC 9110 §9.3.2).
  Match match(std::string_view method, std::string_view path) const;

  std::size_t size() const { return routes_; }

  struct Node;  ///< a segment of the route tree (defined in router.cpp)

 private:
  std::unique_ptr<Node> root_;
  std::size_t routes_ = 0;
};

}  // namespace nuri::app
