// libFuzzer target for doctor::classify_reply (src/doctor/probe.cpp): what `nuri doctor` makes
// of the bytes a server sent back to its `HEAD /`. That server is whatever the user pointed the
// doctor at, and the verdict is printed on the user's terminal, so every text derived from the
// bytes (the status line, Server, the excerpt, the detail) must be printable ASCII: no reply may
// put an escape sequence or a line break on the terminal, or forge a line of the report. Each
// text is bounded too. The first input byte chooses how the read ended.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "doctor/checks.h"

using namespace nuri;

namespace {

void require_printable(const std::string& text, std::size_t max, const char* what) {
  bool ok = text.size() <= max;
  for (unsigned char c : text) ok = ok && c >= 0x20 && c < 0x7f;
  if (!ok) {
    std::fprintf(stderr, "doctor_reply_fuzz: %s not printable or longer than %zu: %zu bytes\n", what, max,
                 text.size());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto end = static_cast<doctor::ReadEnd>(data[0] % 4);
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const doctor::HttpResult r = doctor::classify_reply(bytes, end);
  // An excerpt is at most 200 bytes of the reply, each at most 4 characters (\xNN), and "...".
  constexpr std::size_t kExcerpt = 4 * 200 + 3;
  require_printable(r.status_line, 16 + kExcerpt, "status line");
  require_printable(r.server, kExcerpt, "Server");
  require_printable(r.excerpt, kExcerpt, "excerpt");
  require_printable(r.detail, 200, "detail");
  if (r.verdict == doctor::HttpVerdict::answered && (r.status < 100 || r.status > 999)) std::abort();
  if (bytes.empty() && r.verdict == doctor::HttpVerdict::answered) std::abort();
  return 0;
}
