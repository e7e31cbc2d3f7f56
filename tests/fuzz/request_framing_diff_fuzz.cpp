// Differential libFuzzer target: nuri's request parser (src/http/parser.cpp) against the plain
// reference model of RFC 9112 framing (reference_framing.cpp). Both judge the same bytes; any
// disagreement aborts with both verdicts printed. Compared: accept vs reject, and for an
// accepted head its length and its body framing (none / Content-Length N / chunked). That is
// what request smuggling lives on: two parsers that frame one byte stream differently.
//
// "Incomplete" needs care: nuri refuses a head as soon as its bytes show an error, even in the
// middle of a line, while the model judges complete lines only. So when nuri refuses bytes the
// model finds merely incomplete, the bytes are completed in a few typical ways and each
// completion is compared in full: nuri refuses every extension of bytes it refused (the
// request_parser target checks that), so the model must refuse them all too.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/parser.h"
#include "reference_framing.h"

using namespace nuri;
using Verdict = fuzz::ReferenceVerdict;

namespace {

const char* name(Verdict::Outcome o) {
  switch (o) {
    case Verdict::Outcome::accept: return "accept";
    case Verdict::Outcome::reject: return "reject";
    case Verdict::Outcome::incomplete: return "incomplete";
  }
  return "?";
}

const char* name(Verdict::Framing f) {
  switch (f) {
    case Verdict::Framing::none: return "none";
    case Verdict::Framing::content_length: return "content-length";
    case Verdict::Framing::chunked: return "chunked";
  }
  return "?";
}

// nuri's result in the model's terms.
Verdict nuri_verdict(std::string_view bytes, const http::ParserLimits& limits, int& status) {
  http::RequestParser parser(limits);
  http::Request request;
  const http::ParseResult r = parser.parse(bytes, request);
  status = http::code(r.status);
  Verdict v;
  if (r.state == http::ParseState::incomplete) return v;
  if (r.state == http::ParseState::error) {
    v.outcome = Verdict::Outcome::reject;
    return v;
  }
  v.outcome = Verdict::Outcome::accept;
  v.head_length = r.consumed;
  switch (request.framing) {
    case http::BodyFraming::none: v.framing = Verdict::Framing::none; break;
    case http::BodyFraming::content_length:
      v.framing = Verdict::Framing::content_length;
      v.content_length = request.content_length;
      break;
    case http::BodyFraming::chunked: v.framing = Verdict::Framing::chunked; break;
  }
  return v;
}

[[noreturn]] void report(std::string_view bytes, const Verdict& nuri, int status,
                         const Verdict& model, const char* what) {
  std::fprintf(stderr, "request_framing_diff_fuzz: %s\n", what);
  std::fprintf(stderr, "  nuri:  %s (status %d) head %zu framing %s %llu\n", name(nuri.outcome),
               status, nuri.head_length, name(nuri.framing),
               static_cast<unsigned long long>(nuri.content_length));
  std::fprintf(stderr, "  model: %s (%s) head %zu framing %s %llu\n", name(model.outcome),
               model.why.c_str(), model.head_length, name(model.framing),
               static_cast<unsigned long long>(model.content_length));
  std::fprintf(stderr, "  bytes (%zu): ", bytes.size());
  for (unsigned char c : bytes.substr(0, 600)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      std::fputc(c, stderr);
    } else {
      std::fprintf(stderr, "\\x%02x", c);
    }
  }
  std::fputc('\n', stderr);
  std::abort();
}

void compare(std::string_view bytes, const http::ParserLimits& limits, bool complete_it);

// Bytes nuri refused and the model could not judge yet: complete them in ways that end the
// line at hand and the head, and compare each completion. The suffixes cover the places a line
// can be cut: in the method, the target, the version, a field name, a field value, after a CR.
void compare_completions(std::string_view bytes, const http::ParserLimits& limits) {
  static const char* const kSuffixes[] = {
      "\r\n\r\n",
      "\n\r\n",
      "\r\nHost: h\r\n\r\n",
      "\nHost: h\r\n\r\n",
      " HTTP/1.1\r\nHost: h\r\n\r\n",
      " / HTTP/1.1\r\nHost: h\r\n\r\n",
      "1\r\nHost: h\r\n\r\n",
      ".1\r\nHost: h\r\n\r\n",
      "1.1\r\nHost: h\r\n\r\n",
      "/1.1\r\nHost: h\r\n\r\n",
      ": v\r\n\r\n",
      ": v\r\nHost: h\r\n\r\n",
      "h\r\n\r\n",
  };
  for (const char* suffix : kSuffixes) {
    std::string extended(bytes);
    extended += suffix;
    compare(extended, limits, false);
  }
}

void compare(std::string_view bytes, const http::ParserLimits& limits, bool complete_it) {
  int status = 0;
  const Verdict nuri = nuri_verdict(bytes, limits, status);
  const Verdict model = fuzz::reference_framing(
      bytes, {limits.max_target_bytes, limits.max_head_bytes, limits.max_header_count});

  if (model.outcome == Verdict::Outcome::incomplete) {
    if (nuri.outcome == Verdict::Outcome::accept) {
      report(bytes, nuri, status, model, "nuri accepts a head the model finds unfinished");
    }
    if (nuri.outcome == Verdict::Outcome::reject && complete_it) {
      compare_completions(bytes, limits);
    }
    return;
  }
  if (nuri.outcome != model.outcome) {
    report(bytes, nuri, status, model, "accept/reject disagreement");
  }
  if (nuri.outcome == Verdict::Outcome::accept &&
      (nuri.head_length != model.head_length || nuri.framing != model.framing ||
       nuri.content_length != model.content_length)) {
    report(bytes, nuri, status, model, "framing disagreement");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // The default limits, and small ones so that the limits themselves get exercised.
  compare(bytes, http::ParserLimits{}, true);
  compare(bytes, http::ParserLimits{.max_target_bytes = 24, .max_head_bytes = 160,
                                    .max_header_count = 4},
          true);
  return 0;
}
