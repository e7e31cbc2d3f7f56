#pragma once
// A slow, deliberately plain model of HTTP/1.1 request framing, written from RFC 9112 (§2-§7)
// and RFC 9110 (§5.5-§5.6, §7.2, §8.6, §10.1.1) rather than from nuri's parser, for the
// differential fuzz target (request_framing_diff_fuzz.cpp). It splits the bytes into lines with
// std::string and checks each rule in its own obvious step. Where nuri is deliberately stricter
// (or, for request-target bytes, more lenient) than the RFC, the model says so in a comment and
// follows nuri, so that any remaining disagreement is a real finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nuri::fuzz {

/// The parser limits the model applies (nuri's http::ParserLimits, same meanings).
struct ReferenceLimits {
  std::size_t max_target_bytes = 8192;
  std::size_t max_head_bytes = 16384;
  std::size_t max_header_count = 100;
};

/// What the model concludes about bytes that start a request.
struct ReferenceVerdict {
  enum class Outcome { accept, reject, incomplete };
  enum class Framing { none, content_length, chunked };
  Outcome outcome = Outcome::incomplete;
  std::size_t head_length = 0;        ///< accept: bytes up to and including the final empty line
  Framing framing = Framing::none;    ///< accept: how the body is delimited
  std::uint64_t content_length = 0;   ///< accept, framing content_length: the length
  std::string why;                    ///< reject: the rule, for the fuzzer's report
};

/// Judges `bytes` as the start of a request. `incomplete` when no rule is broken by the complete
/// lines received so far and the head has not ended (a partial last line is not judged).
ReferenceVerdict reference_framing(std::string_view bytes, const ReferenceLimits& limits);

}  // namespace nuri::fuzz
