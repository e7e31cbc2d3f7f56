// `nuri get`: the browser's side of HTTP. Sends requests as a browser or curl would and shows,
// with --trace, each step the lecture describes: DNS, the TCP handshake, the request, the
// response's status line and headers, the body.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/terminal.h"
#include "cli/commands.h"
#include "cli/validators.h"
#include "client/cookie_jar.h"
#include "client/form.h"
#include "client/http_client.h"
#include "client/url.h"
#include "http/chars.h"

namespace nuri::cli {

namespace {

// Exit codes: curl's numbers for the same failures, so scripts written for curl keep working.
constexpr int kExitOk = 0;
constexpr int kExitUnsupported = 1;
constexpr int kExitUsage = 2;
constexpr int kExitBadUrl = 3;
constexpr int kExitResolve = 6;
constexpr int kExitConnect = 7;
constexpr int kExitBadResponse = 8;
constexpr int kExitHttpError = 22;
constexpr int kExitWrite = 23;
constexpr int kExitRead = 26;
constexpr int kExitTimeout = 28;
constexpr int kExitRedirects = 47;
constexpr int kExitEmptyReply = 52;
constexpr int kExitTruncated = 56;

int exit_code(client::Error e) {
  switch (e) {
    case client::Error::none: return kExitOk;
    case client::Error::resolve: return kExitResolve;
    case client::Error::connect: return kExitConnect;
    case client::Error::timeout: return kExitTimeout;
    case client::Error::empty_reply: return kExitEmptyReply;
    case client::Error::bad_response: return kExitBadResponse;
    case client::Error::truncated: return kExitTruncated;
    case client::Error::write: return kExitWrite;
  }
  return kExitBadResponse;
}

// "nuri get: WHAT" on stderr. WHAT holds bytes the user typed (a URL, an option) or the server
// sent (a reason phrase, a Location): escaped, so that neither can put a control on the terminal.
void print_error(std::string_view what) {
  std::fprintf(stderr, "nuri get: %s\n", term::printable(what).c_str());
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return http::chars::is(c, http::chars::kTchar); });
}

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Writes the response to stdout or a file (nowhere when `file` is null: --json without -o);
// drops the bodies of redirects being followed, and counts the body on the progress bar.
class Output : public client::Sink {
 public:
  Output(std::FILE* file, bool head_only, bool follow, bool fail, term::Progress& progress)
      : file_(file), head_only_(head_only), follow_(follow), fail_(fail), progress_(progress) {}

  bool on_head(const client::Head& head) override {
    discard_ = (follow_ && is_redirect(head.status) && head.find("Location").has_value()) || (fail_ && head.status >= 400);
    if (head_only_) return write(head.raw);
    // RFC 9110 §6.4.1: no body after 204 or 304, whatever Content-Length says.
    if (!discard_ && head.status != 204 && head.status != 304) {
      std::optional<std::uint64_t> total;
      if (auto length = head.find("Content-Length"); length && !head.find("Transfer-Encoding")) {
        char* end = nullptr;
        unsigned long long n = std::strtoull(length->c_str(), &end, 10);
        if (end != length->c_str() && *end == '\0') total = n;
      }
      progress_.start(total);
    }
    return true;
  }
  bool on_data(std::string_view bytes) override {
    if (discard_ || head_only_) return true;
    progress_.add(bytes.size());
    return write(bytes);
  }

 private:
  bool write(std::string_view bytes) {
    return file_ == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), file_) == bytes.size();
  }

  std::FILE* file_;
  bool head_only_;
  bool follow_;
  bool fail_;
  term::Progress& progress_;
  bool discard_ = false;
};

std::string http_version(const client::Head& head) { return fmt::format("1.{}", head.version_minor); }

nlohmann::ordered_json fields_json(const client::Fields& fields) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& [name, value] : fields) out.push_back({name, value});
  return out;
}

nlohmann::ordered_json timings_json(const client::Timing& t) {
  return {{"name_lookup", t.dns}, {"connect", t.connect}, {"first_byte", t.first_byte}, {"total", t.total}};
}

}  // namespace

void GetCommand::add_to(CLI::App& app) {
  command_ = app.add_subcommand("get", "Send HTTP requests and show the responses, as a browser or curl does");
  command_->footer(
      "The lecture's browser: it turns a URL into a request line and headers, sends them over a TCP connection\n"
      "to the host's address (from DNS), and reads back a status line, headers and a body. --trace shows each step.\n"
      "\n"
      "http:// only (https:// is refused with exit code 1). Several URLs to the same host:port reuse one\n"
      "kept-alive connection. The body goes to stdout (or -o FILE, one -o per URL in order); --trace goes to stderr.\n"
      "With -o FILE and stderr a terminal, a progress bar shows on stderr (not with -s or --trace).\n"
      "--json prints a JSON object instead of the body, which then goes only to -o FILE (see docs/get.md).\n"
      "\n"
      "Exit codes (curl's numbers): 0 done (whatever the status, unless --fail); 1 unsupported scheme (https);\n"
      "  2 usage error; 3 malformed URL; 6 could not resolve the host; 7 could not connect (refused, unreachable);\n"
      "  8 malformed response (bad status line, header or chunked body; bad redirect; over 100 1xx responses);\n"
      "  22 status >= 400 with --fail;\n"
      "  23 write error (-o, stdout, -c); 26 read error (a file of -d @, --data-urlencode @ or -F @);\n"
      "  28 timeout (--max-time); 47 more than --max-redirs redirects; 52 empty reply (closed without a byte);\n"
      "  56 connection reset, or closed before the body ended.");
  command_->add_option("URL", urls_, "http://host[:port]/path?query (http:// may be left out)")->required();
  command_->add_option("-X,--request", method_, "Request method (default GET; POST with -d/-F; HEAD with -I)");
  command_->add_option("-H,--header", headers_, "Extra header 'Name: value' (repeatable); 'Name:' removes a default one")
      ->allow_extra_args(false);
  command_->add_option("-d,--data", data_, "Body bytes, as application/x-www-form-urlencoded; @FILE reads a file without "
                                           "its line breaks; several are joined with '&'")
      ->allow_extra_args(false);
  command_->add_option("--data-urlencode", data_urlencode_, "Body part percent-encoded: content, =content, name=content, "
                                                            "@file or name@file; joined with '&'")
      ->allow_extra_args(false);
  command_->add_option("-F,--form", form_, "multipart/form-data field: name=value, name=@file (upload), name=<file")
      ->allow_extra_args(false);
  command_->add_option("-b,--cookie", cookie_in_, "Cookies to send: 'a=1; b=2', or a Netscape cookie file to read");
  command_->add_option("-c,--cookie-jar", cookie_out_, "Write every cookie at the end to this Netscape cookie file (curl reads it)");
  command_->add_flag("-L,--location", follow_, "Follow redirects (301, 302, 303: POST becomes GET; 307, 308: method and body kept)");
  command_->add_option("--max-redirs", max_redirects_, "Redirects followed per URL with -L")->check(whole_number(0, 100));
  command_->add_flag("-I,--head", head_only_, "Send HEAD and print the status line and headers");
  command_->add_option("-o,--output", outputs_, "Write the body to FILE instead of stdout (one per URL, in order)")
      ->allow_extra_args(false);
  command_->add_option("-m,--max-time", max_time_, "Seconds each URL may take, redirects included (0: no limit)")
      ->check(seconds(0, 86400));
  command_->add_flag("-f,--fail", fail_, "Exit 22 (and write no body) when the status is 400 or more");
  command_->add_flag("--trace", trace_, "Show each step with its time on stderr, and a timing summary");
  command_->add_flag("--json", json_, "Print one JSON object describing the transfers (status, headers, sizes, "
                                      "timings, redirects) on stdout; the body goes only to -o FILE");
  command_->add_flag("-s,--silent", silent_, "No progress bar (errors are still printed)");
}

int GetCommand::run() {
  std::int64_t now = std::time(nullptr);
  // The headers.
  client::Fields headers;
  for (const std::string& h : headers_) {
    std::size_t colon = h.find(':');
    std::string_view name = std::string_view(h).substr(0, colon);
    if (colon == std::string::npos || !is_token(name)) {
      print_error(fmt::format("-H '{}': expected 'Name: value' with a token name", h));
      return kExitUsage;
    }
    std::string_view value = std::string_view(h).substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
      print_error(fmt::format("-H '{}': a header value cannot hold CR, LF or NUL", h));
      return kExitUsage;
    }
    headers.emplace_back(std::string(name), std::string(value));
  }
  auto user_has = [&](std::string_view name) {
    return std::any_of(headers.begin(), headers.end(), [&](const auto& f) { return iequals(f.first, name); });
  };

  // The body.
  std::string body;
  bool has_body = false;
  std::string error;
  if (!form_.empty() && (!data_.empty() || !data_urlencode_.empty())) {
    std::fprintf(stderr, "nuri get: -F cannot be mixed with -d or --data-urlencode (one body per request)\n");
    return kExitUsage;
  }
  for (const std::string& d : data_) {
    std::string part;
    if (!client::data_argument(d, part, error)) {
      print_error("-d: " + error);
      return kExitRead;
    }
    body += (has_body ? "&" : "") + part;
    has_body = true;
  }
  for (const std::string& d : data_urlencode_) {
    std::string part;
    if (!client::data_urlencode(d, part, error)) {
      print_error("--data-urlencode: " + error);
      return kExitRead;
    }
    body += (has_body ? "&" : "") + part;
    has_body = true;
  }
  if (has_body && !user_has("Content-Type")) headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  if (!form_.empty()) {
    std::vector<client::FormPart> parts;
    for (const std::string& f : form_) {
      client::FormPart part;
      if (!client::form_argument(f, part, error)) {
        print_error(error);
        return f.find('=') == std::string::npos ? kExitUsage : kExitRead;
      }
      parts.push_back(std::move(part));
    }
    std::string boundary;
    body = client::multipart_body(parts, boundary);
    has_body = true;
    if (!user_has("Content-Type")) headers.emplace_back("Content-Type", "multipart/form-data; boundary=" + boundary);
  }

  // The method.
  std::string method = has_body ? "POST" : "GET";
  if (head_only_) {
    if (has_body) {
      std::fprintf(stderr, "nuri get: -I (HEAD) cannot send a body (-d, --data-urlencode, -F)\n");
      return kExitUsage;
    }
    method = "HEAD";
  }
  if (!method_.empty()) {
    if (!is_token(method_)) {
      print_error(fmt::format("-X '{}': a method is a token (GET, POST, DELETE...)", method_));
      return kExitUsage;
    }
    method = method_;
  }

  // Cookies.
  client::CookieJar jar;
  if (!cookie_in_.empty()) {
    if (cookie_in_.find('=') != std::string::npos) {
      jar.add_literal(cookie_in_);
    } else if (!jar.load(cookie_in_, error) && trace_) {
      // A jar that does not exist yet is not an error (-b jar -c jar on the first run), as in curl.
      std::fprintf(stderr, "* %s: starting with no cookies\n", term::printable(error).c_str());
    }
  }

  if (json_ && std::find(outputs_.begin(), outputs_.end(), "-") != outputs_.end()) {
    std::fprintf(stderr, "nuri get: --json prints on stdout: -o - would mix the body into it; give -o FILE\n");
    return kExitUsage;
  }

  client::Client http(trace_ ? stderr : nullptr, trace_ && term::use_color(stderr));
  // Only a body going to a file leaves the terminal free for a bar; --trace owns stderr.
  const bool bar = !silent_ && !trace_ && term::is_terminal(stderr);
  nlohmann::ordered_json transfers = nlohmann::ordered_json::array();
  int status_code = kExitOk;
  for (std::size_t i = 0; i < urls_.size() && status_code == kExitOk; ++i) {
    nlohmann::ordered_json transfer = {{"url", urls_[i]}};
    // Written into `transfer` whichever way this URL ends.
    auto report = [&](const std::string& message) {
      if (!json_) return;
      transfer["exit_code"] = status_code;
      transfer["error"] = message.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(message);
      transfers.push_back(transfer);
    };
    client::UrlError kind;
    auto url = client::parse_url(urls_[i], kind, error);
    if (!url) {
      print_error(fmt::format("{}: {}", urls_[i], error));
      status_code = kind == client::UrlError::unsupported ? kExitUnsupported : kExitBadUrl;
      report(error);
      break;
    }
    const bool to_file = i < outputs_.size() && outputs_[i] != "-";
    std::FILE* file = json_ ? nullptr : stdout;
    transfer["output"] = to_file ? nlohmann::ordered_json(outputs_[i]) : nlohmann::ordered_json();
    if (to_file) {
      file = std::fopen(outputs_[i].c_str(), "wb");
      if (!file) {
        print_error(fmt::format("-o {}: cannot open for writing", outputs_[i]));
        status_code = kExitWrite;
        report("cannot open " + outputs_[i] + " for writing");
        break;
      }
    }
    term::Progress progress(stderr, bar && to_file);
    std::string failure;
    double total_ms = 0;
    nlohmann::ordered_json redirects = nlohmann::ordered_json::array();
    // 0 is "no limit": a limit under a millisecond rounds up to one, not down to none.
    http.set_deadline_in(max_time_ > 0 ? std::max(1, static_cast<int>(std::ceil(max_time_ * 1000))) : 0);
    client::Request request{method, *url, headers, body, has_body};
    for (int hops = 0;; ++hops) {
      client::Request sent = request;
      if (!user_has("Cookie")) {
        std::string cookies = jar.header_for(sent.url, now);
        if (!cookies.empty()) sent.headers.emplace_back("Cookie", cookies);
      }
      Output output(file, head_only_, follow_, fail_, progress);
      client::Outcome out = http.fetch(sent, output);
      total_ms += out.timing.total;
      transfer["effective_url"] = sent.url.to_string();
      transfer["method"] = sent.method;
      if (out.error != client::Error::none) {
        progress.abandon();
        print_error(fmt::format("{}: {}", sent.url.to_string(), out.message));
        status_code = exit_code(out.error);
        failure = out.message;
        break;
      }
      progress.finish();
      transfer["status"] = out.head.status;
      transfer["reason"] = out.head.reason;
      transfer["http_version"] = http_version(out.head);
      transfer["headers"] = fields_json(out.head.headers);
      transfer["body_bytes"] = out.body_bytes;
      transfer["connection"] = {{"peer", out.peer}, {"number", out.connection_number}, {"reused", out.reused}};
      transfer["timings_ms"] = timings_json(out.timing);
      for (const std::string& set : out.head.all("Set-Cookie")) {
        bool kept = jar.store(set, sent.url, now);
        if (trace_) {
          std::string note = fmt::format("* cookie {}: {}", kept ? "stored" : "ignored", term::printable(set));
          std::fprintf(stderr, "%s\n", term::paint(term::use_color(stderr), term::Role::quiet, note).c_str());
        }
      }
      int s = out.head.status;
      auto location = out.head.find("Location");
      if (!follow_ || !is_redirect(s) || !location) {
        if (fail_ && s >= 400) {
          failure = fmt::format("the server answered {} {}", s, out.head.reason);
          print_error(fmt::format("{}: {}", sent.url.to_string(), failure));
          status_code = kExitHttpError;
        }
        break;
      }
      if (hops == max_redirects_) {
        failure = fmt::format("more than {} redirects", max_redirects_);
        print_error(fmt::format("{}: {}", urls_[i], failure));
        status_code = kExitRedirects;
        break;
      }
      auto next = client::resolve_reference(sent.url, *location, kind, error);
      if (!next) {
        failure = fmt::format("bad redirect to '{}': {}", *location, error);
        print_error(fmt::format("{}: {}", sent.url.to_string(), failure));
        status_code = kind == client::UrlError::unsupported ? kExitUnsupported : kExitBadResponse;
        break;
      }
      redirects.push_back({{"url", sent.url.to_string()}, {"method", sent.method}, {"status", s},
                           {"location", *location}, {"time_ms", out.timing.total}});
      // RFC 9110 §15.4: 303 makes anything but HEAD a GET; 301 and 302 turn POST into GET, as
      // every browser and curl do; 307 and 308 keep the method and the body.
      bool to_get = (s == 303 && request.method != "HEAD") || ((s == 301 || s == 302) && request.method == "POST");
      if (to_get) {
        request.method = "GET";
        request.body.clear();
        request.has_body = false;
        std::erase_if(request.headers, [](const auto& f) { return iequals(f.first, "Content-Type"); });
      }
      if (next->authority() != request.url.authority()) {
        // Credentials given for one host are not handed to another (curl does the same).
        std::erase_if(request.headers,
                      [](const auto& f) { return iequals(f.first, "Authorization") || iequals(f.first, "Cookie"); });
      }
      if (trace_) {
        std::string note = fmt::format("* redirect {} -> {} ({})", s, next->to_string(), request.method);
        std::fprintf(stderr, "%s\n", term::paint(term::use_color(stderr), term::Role::quiet, note).c_str());
      }
      request.url = *next;
    }
    if (to_file) {
      if (std::fclose(file) != 0 && status_code == kExitOk) {
        print_error(fmt::format("-o {}: write error", outputs_[i]));
        status_code = kExitWrite;
        failure = "write error on " + outputs_[i];
      }
    } else if (file != nullptr && std::fflush(stdout) != 0 && status_code == kExitOk) {
      std::fprintf(stderr, "nuri get: write error on stdout\n");
      status_code = kExitWrite;
      failure = "write error on stdout";
    }
    transfer["redirects"] = redirects;
    transfer["total_ms"] = total_ms;
    report(failure);
  }
  if (!cookie_out_.empty() && !jar.save(cookie_out_, now, error)) {
    print_error("-c: " + error);
    if (status_code == kExitOk) status_code = kExitWrite;
  }
  if (json_) {
    nlohmann::ordered_json doc = {{"transfers", transfers}, {"exit_code", status_code}};
    std::string text = doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
      std::fprintf(stderr, "nuri get: write error on stdout\n");
      if (status_code == kExitOk) status_code = kExitWrite;
    }
  }
  return status_code;
}

}  // namespace nuri::cli
