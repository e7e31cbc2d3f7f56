#pragma once
// `nuri explain`: which listener, virtual host, location and rule decide the answer to one
// request, and why, without sending anything. The decisions are the server's own: the request
// parser with the configuration's limits, decision.h, Site and StaticHandler (with a Trace), so
// an explanation cannot drift from what `nuri serve` does.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"

namespace nuri::server {

/// The request to explain, as the command line gives it.
struct ExplainRequest {
  std::string method;                ///< as sent ("GET"; an unknown token gets the server's 501)
  std::string url;                   ///< "http://host[:port]/path?query", "/path?query" or "*"
  std::vector<std::string> headers;  ///< "Name: value" fields, in order; a Host replaces the URL's
  std::string from = "127.0.0.1";    ///< the client's address, for access rules
};

/// One step of the decision: "location /docs/ (why: longest prefix of /docs/a.txt)".
struct ExplainStep {
  std::string name;   ///< "listener", "virtual host", "location", "rule", "auth", "file"...
  std::string what;
  std::string why;    ///< empty: no reason to give
  nlohmann::json facts = nlohmann::json::object();  ///< the same as data, for --json
};

struct Explanation {
  std::string method;
  std::string target;                      ///< the request-target as it would be sent
  std::string host;                        ///< the Host field (empty: none)
  std::string client;
  std::vector<ExplainStep> steps;
  int status = 0;       ///< the predicted status; 0 when nuri itself gives none (an upstream
                        ///< answers, or the connection is refused or closed before a request)
  std::string answer;   ///< "404 Not Found", "from an upstream", "connection closed"
  std::string why;
  std::vector<std::pair<std::string, std::string>> fields;  ///< telling response fields (Location, Allow...)
};

/// Explains `request` as the server running `config` would answer it. nullopt with a one-line
/// `error` when the request cannot be built (not a method token, a bad URL, header or address):
/// the command's usage errors.
std::optional<Explanation> explain(const config::Config& config, const ExplainRequest& request, std::string& error);

/// One line per step, "NAME: WHAT (why: WHY)", the last one "answer: STATUS REASON (why: ...)".
std::string explanation_text(const Explanation& explanation);

/// One JSON object: request, steps (name, what, why and facts), status (null when nuri gives
/// none), answer, why, fields.
std::string explanation_json(const Explanation& explanation);

}  // namespace nuri::server
