// `nuri resolve`: one DNS question and its answer, shown the way the lecture draws it (a name
// goes to a DNS server, an address comes back), with everything dig would show besides.
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/terminal.h"
#include "cli/commands.h"
#include "cli/validators.h"
#include "dns/lookup.h"
#include "dns/message.h"

namespace nuri::cli {

namespace {

// Exit codes, documented in the footer of --help and in docs/resolve.md.
constexpr int kResolveExitOk = 0;
constexpr int kResolveExitNoData = 1;
constexpr int kResolveExitUsage = 2;
constexpr int kResolveExitNxdomain = 3;
constexpr int kResolveExitServfail = 4;
constexpr int kResolveExitRefused = 5;
constexpr int kResolveExitTimeout = 6;
constexpr int kResolveExitUnreachable = 7;
constexpr int kResolveExitBadReply = 8;

std::string pad(std::string_view s, std::size_t width) {
  std::string out(s);
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}

void print_records(const std::vector<dns::Record>& records) {
  std::size_t name_width = 0, type_width = 0, ttl_width = 0;
  for (const auto& r : records) {
    name_width = std::max(name_width, r.name.size());
    type_width = std::max(type_width, dns::type_name(r.type).size());
    ttl_width = std::max(ttl_width, std::to_string(r.ttl).size());
  }
  for (const auto& r : records) {
    std::string ttl = std::to_string(r.ttl);
    std::printf("  %s  %s%s  %s  %s\n", pad(r.name, name_width).c_str(), std::string(ttl_width - ttl.size(), ' ').c_str(),
                ttl.c_str(), pad(dns::type_name(r.type), type_width).c_str(), r.data.c_str());
  }
}

nlohmann::json records_json(const std::vector<dns::Record>& records) {
  auto out = nlohmann::json::array();
  for (const auto& r : records) {
    out.push_back({{"name", r.name}, {"ttl", r.ttl}, {"type", dns::type_name(r.type)}, {"data", r.data}});
  }
  return out;
}

std::string fqdn(std::string name) {
  if (name.empty() || name.back() != '.') name += '.';
  return name;
}

// QTYPE * (ANY) is answered by records of every type (RFC 1035 §3.2.3).
bool answers(const dns::Record& record, std::uint16_t type) {
  return type == static_cast<std::uint16_t>(dns::Type::any) || record.type == type;
}

}  // namespace

void ResolveCommand::add_to(CLI::App& app) {
  command_ = app.add_subcommand("resolve", "Ask DNS what a name is (or what name an address has), as dig does");
  command_->footer(
      "The lecture's DNS: people use names, the network uses addresses; a DNS server turns one into the\n"
      "other. 'nuri resolve www.example.com' shows the question, the server asked, and each answer with its TTL.\n"
      "\n"
      "An address as NAME asks for its PTR record (reverse lookup, like dig -x). Without --server, A, AAAA and\n"
      "PTR questions are first looked up in /etc/hosts, as the system resolver does ('hosts: files dns' in\n"
      "/etc/nsswitch.conf), and the output says when /etc/hosts answered; --no-hosts asks DNS only.\n"
      "\n"
      "Exit codes: 0 answers found; 1 no record of that type (NOERROR, empty answer); 2 usage error;\n"
      "  3 NXDOMAIN (no such name); 4 SERVFAIL (the server failed); 5 REFUSED (the server will not answer);\n"
      "  6 timeout (no reply); 7 unreachable (port closed, network down); 8 malformed reply or other error code.");
  command_->add_option("NAME", name_, "Host name (www.example.com) or address (192.0.2.1, 2001:db8::1)")->required();
  command_->add_option("-t,--type", type_, "Record type: A, AAAA, CNAME, MX, TXT, NS, SOA, PTR, SRV, CAA, ANY or TYPEnnn (default A; PTR for an address)");
  command_->add_option("-s,--server", server_, "DNS server IP[:PORT] to ask (default: the servers of /etc/resolv.conf, in order)");
  command_->add_option("--timeout", timeout_, "Seconds to wait for each reply")->check(seconds(0.05, 60));
  command_->add_option("--tries", tries_, "Queries sent to each server before giving up on it")->check(whole_number(1, 10));
  command_->add_flag("--no-hosts", no_hosts_, "Do not look in /etc/hosts; ask DNS");
  command_->add_flag("--json", json_, "One JSON object instead of text");
}

int ResolveCommand::run() {
  std::string name = name_;
  std::uint16_t type = static_cast<std::uint16_t>(dns::Type::a);
  auto reverse = dns::reverse_name(name_);
  if (!type_.empty()) {
    auto t = dns::type_from_name(type_);
    if (!t) {
      std::fprintf(stderr, "nuri resolve: --type '%s': unknown record type (A, AAAA, CNAME, MX, TXT, NS, SOA, PTR...)\n", type_.c_str());
      return kResolveExitUsage;
    }
    type = *t;
  }
  if (reverse) {
    if (!type_.empty() && type != static_cast<std::uint16_t>(dns::Type::ptr)) {
      std::fprintf(stderr, "nuri resolve: %s is an address: only its PTR record can be asked for\n", name_.c_str());
      return kResolveExitUsage;
    }
    type = static_cast<std::uint16_t>(dns::Type::ptr);
    name = *reverse;
  }
  std::string error;
  // The name as the query carries it, escapes parsed ("a\.b", "\027"), shown as dig shows names.
  const std::optional<std::string> asked = dns::presentation_name(name, error);
  if (!asked) {
    std::fprintf(stderr, "nuri resolve: '%s': %s\n", name.c_str(), error.c_str());
    return kResolveExitUsage;
  }
  const std::string question = fmt::format("{} IN {}", *asked, dns::type_name(type));
  // Given empty, --server is a bad server, not "the servers of /etc/resolv.conf".
  const std::optional<std::string> server = command_->count("--server") ? std::optional(server_) : std::nullopt;

  // /etc/hosts first, as getaddrinfo would (only for questions it can answer).
  bool use_hosts = !server && !no_hosts_ &&
                   (type == static_cast<std::uint16_t>(dns::Type::a) || type == static_cast<std::uint16_t>(dns::Type::aaaa) ||
                    (reverse && type == static_cast<std::uint16_t>(dns::Type::ptr)));
  if (use_hosts) {
    std::vector<std::string> found;
    if (reverse) {
      if (auto host = dns::hosts_name(name_)) found.push_back(fqdn(*host));
    } else {
      found = dns::hosts_addresses(name_, type == static_cast<std::uint16_t>(dns::Type::a) ? AF_INET : AF_INET6);
    }
    if (!found.empty()) {
      if (json_) {
        nlohmann::json j = {{"question", {{"name", *asked}, {"type", dns::type_name(type)}, {"class", "IN"}}},
                            {"source", "/etc/hosts"}, {"answers", nlohmann::json::array()}};
        for (const auto& f : found) j["answers"].push_back({{"name", *asked}, {"type", dns::type_name(type)}, {"data", f}});
        std::printf("%s\n", j.dump(2).c_str());
        return kResolveExitOk;
      }
      std::printf("question:  %s\n", question.c_str());
      std::printf("source:    /etc/hosts answered, not DNS (the system resolver reads it first; --no-hosts asks DNS)\n");
      std::printf("answers:   %zu\n", found.size());
      for (const auto& f : found) std::printf("  %s  %s  %s\n", asked->c_str(), dns::type_name(type).c_str(), f.c_str());
      return kResolveExitOk;
    }
  }

  dns::Client client(server, static_cast<int>(timeout_ * 1000), tries_);
  if (!client.error().empty()) {
    std::fprintf(stderr, "nuri resolve: %s\n", client.error().c_str());
    return kResolveExitUsage;
  }
  dns::Exchange ex = client.query(name, type);
  if (!ex.reply) {
    int code = kResolveExitBadReply;
    if (ex.failure == dns::Failure::timeout) code = kResolveExitTimeout;
    if (ex.failure == dns::Failure::unreachable) code = kResolveExitUnreachable;
    std::string what = ex.failure == dns::Failure::timeout ? "timeout: no reply" : ex.error;
    if (json_) {
      // Scripts get an object whatever happened; "error" says what, the exit code how.
      nlohmann::json j = {{"question", {{"name", *asked}, {"type", dns::type_name(type)}, {"class", "IN"}}},
                          {"source", "dns"},
                          {"server", ex.server},
                          {"ms", ex.ms},
                          {"rcode", nullptr},
                          {"error", what},
                          {"answers", nlohmann::json::array()}};
      std::printf("%s\n", j.dump(2).c_str());
      std::fflush(stdout);
    }
    std::fprintf(stderr, "nuri resolve: %s: %s (server %s, %.1f ms)\n", question.c_str(), what.c_str(),
                 ex.server.c_str(), ex.ms);
    return code;
  }
  const dns::Message& m = *ex.reply;
  auto chain = dns::cname_chain(m.answers, *asked);
  std::size_t wanted = 0;
  for (const auto& r : m.answers) wanted += answers(r, type);

  int code = kResolveExitOk;
  std::string why;
  switch (m.rcode) {
    case 0:
      if (wanted == 0) {
        code = kResolveExitNoData;
        why = fmt::format("no {} record (the name exists)", dns::type_name(type));
      }
      break;
    case 3: code = kResolveExitNxdomain; why = "NXDOMAIN: no such name"; break;
    case 2: code = kResolveExitServfail; why = "SERVFAIL: the server could not answer"; break;
    case 5: code = kResolveExitRefused; why = "REFUSED: the server will not answer this question"; break;
    default: code = kResolveExitBadReply; why = dns::rcode_name(m.rcode); break;
  }

  if (json_) {
    nlohmann::json j = {
        {"question", {{"name", *asked}, {"type", dns::type_name(type)}, {"class", "IN"}}},
        {"source", "dns"},
        {"server", ex.server},
        {"ms", ex.ms},
        {"rcode", dns::rcode_name(m.rcode)},
        {"authoritative", m.authoritative},
        {"recursion_available", m.recursion_available},
        {"truncated", m.truncated},
        {"answers", records_json(m.answers)},
        {"authority", records_json(m.authority)},
        {"additional", records_json(m.additional)},
        {"cname_chain", chain},
    };
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("question:  %s\n", question.c_str());
    std::printf("server:    %s answered in %.2f ms\n", ex.server.c_str(), ex.ms);
    std::string flags;
    if (m.authoritative) flags += ", authoritative";
    if (m.recursion_available) flags += ", recursion available";
    if (m.truncated) flags += ", truncated";
    // The answer at a glance: records found, a name without that record, or a failure.
    const term::Role role = code == kResolveExitOk ? term::Role::good : code == kResolveExitNoData ? term::Role::warning : term::Role::error;
    std::printf("status:    %s%s\n", term::paint(term::use_color(stdout), role, dns::rcode_name(m.rcode)).c_str(),
                flags.c_str());
    std::printf("answers:   %zu\n", m.answers.size());
    print_records(m.answers);
    if (!chain.empty()) {
      std::string text = *asked;
      for (const auto& c : chain) text += " -> " + c;
      std::printf("chain:     %s (CNAME: an alias, resolved to the name that has the records)\n", text.c_str());
    }
    if (!m.authority.empty()) {
      std::printf("authority: %zu\n", m.authority.size());
      print_records(m.authority);
    }
    if (!m.additional.empty()) {
      std::printf("additional: %zu\n", m.additional.size());
      print_records(m.additional);
    }
  }
  if (code != kResolveExitOk) {
    std::fflush(stdout);
    std::fprintf(stderr, "nuri resolve: %s: %s (server %s)\n", question.c_str(), why.c_str(), ex.server.c_str());
  }
  return code;
}

}  // namespace nuri::cli
