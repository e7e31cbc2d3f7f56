// libFuzzer target for the chunked decoder (src/http/chunked.cpp), two ways:
// - the input as a chunked body, decoded at once and in pieces (each an exact-size heap copy, so
//   ASan sees over-reads), with limits derived from the data; every way must give the same state,
//   status, consumed count and body;
// - the input as body bytes, chunk-encoded here with sizes, extensions and trailers derived from
//   them: decoding must give back exactly those bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "http/chunked.h"

using namespace nuri::http;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "chunked_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

struct Copy {
  Copy(const char* data, std::size_t n) : bytes(new char[n == 0 ? 1 : n]), size(n) {
    if (n > 0) std::memcpy(bytes.get(), data, n);
  }
  std::string_view view() const { return {bytes.get(), size}; }
  std::unique_ptr<char[]> bytes;
  std::size_t size;
};

struct Outcome {
  ParseState state = ParseState::incomplete;
  std::size_t consumed = 0;  // from the start of the input
  Status status = Status::none;
  std::string body;

  bool operator==(const Outcome&) const = default;
};

// One decode call on a copy of input[from, to), added to `o`.
void step(ChunkedDecoder& decoder, std::string_view input, std::size_t to, Outcome& o,
          std::uint64_t max_body) {
  const Copy piece(input.data() + o.consumed, to - o.consumed);
  const ChunkedDecoder::Result r = decoder.decode(piece.view(), &o.body);
  require(r.consumed <= piece.size, "consumed within the input");
  require((r.state == ParseState::error) == (r.status != Status::none), "status iff error");
  require(r.state != ParseState::error || r.status == Status::bad_request ||
              r.status == Status::content_too_large,
          "400 or 413");
  require(decoder.body_size() == o.body.size() && o.body.size() <= max_body, "body size");
  o.state = r.state;
  o.consumed += r.consumed;
  o.status = r.status;
}

std::uint64_t hash(const std::uint8_t* data, std::size_t size) {
  std::uint64_t h = 1469598103934665603u;  // FNV-1a
  for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211u;
  return h;
}

void decode_pieces(std::string_view input, std::uint64_t h) {
  constexpr std::uint64_t kBodies[] = {0, 7, 300, std::numeric_limits<std::uint64_t>::max()};
  constexpr std::size_t kLines[] = {3, 12, 4096, 4096};
  const std::uint64_t max_body = kBodies[h & 3];
  const std::size_t max_line = kLines[(h >> 2) & 3];

  ChunkedDecoder once(max_body, max_line);
  Outcome whole;
  step(once, input, input.size(), whole, max_body);
  if (whole.state == ParseState::complete) {
    require(input.substr(0, whole.consumed).ends_with("\r\n"), "complete ends with CRLF");
    const auto again = once.decode(input.substr(whole.consumed), nullptr);
    require(again.state == ParseState::complete && again.consumed == 0, "complete stays complete");
  }

  std::size_t a = static_cast<std::size_t>((h >> 8) % (input.size() + 1));
  std::size_t b = static_cast<std::size_t>((h >> 32) % (input.size() + 1));
  if (a > b) std::swap(a, b);
  ChunkedDecoder pieces(max_body, max_line);
  Outcome split;
  for (const std::size_t cut : {a, b, input.size()}) {
    if (split.state != ParseState::incomplete) break;
    step(pieces, input, std::max(cut, split.consumed), split, max_body);
    require(whole.body.compare(0, split.body.size(), split.body) == 0, "body is a prefix");
    if (split.state != ParseState::incomplete) {
      require(split == whole, "a decided prefix decides the whole the same way");
    }
  }
  require(split == whole, "pieces end where the whole does");
}

// Encodes `body` in chunks whose sizes, extensions and trailers come from `h`, then decodes it.
void round_trip(std::string_view body, std::uint64_t h) {
  std::string wire;
  std::size_t pos = 0;
  std::uint64_t r = h | 1;
  const auto next = [&r] {
    r ^= r << 13;
    r ^= r >> 7;
    r ^= r << 17;
    return r;
  };
  static constexpr const char* kExtensions[] = {"", ";a", ";a=b", " ; x = \"q\\\"\" ;y", ";n=1"};
  char size_line[64];
  while (pos < body.size()) {
    const std::size_t n = std::min<std::size_t>(body.size() - pos, 1 + next() % 40);
    std::snprintf(size_line, sizeof size_line, (next() & 1) ? "%zx%s\r\n" : "%zX%s\r\n", n,
                  kExtensions[next() % 5]);
    wire += size_line;
    wire.append(body.substr(pos, n));
    wire += "\r\n";
    pos += n;
  }
  wire += (next() & 1) ? "0\r\n" : "000;end\r\n";
  if (next() & 1) wire += "X-Trailer: v\r\nY:\r\n";
  wire += "\r\n";
  const std::size_t length = wire.size();
  wire += "GET / HTTP/1.1\r\n";  // the next request, untouched

  ChunkedDecoder decoder(body.size());
  Outcome o;
  step(decoder, wire, std::min<std::size_t>(wire.size(), next() % (wire.size() + 1)), o,
       body.size());
  if (o.state == ParseState::incomplete) step(decoder, wire, wire.size(), o, body.size());
  require(o.state == ParseState::complete, "an encoded body decodes");
  require(o.consumed == length, "decoding stops at the end of the body");
  require(o.body == body, "decoding gives back the body");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::uint64_t h = hash(data, size);
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  decode_pieces(input, h);
  round_trip(input, h);
  return 0;
}
