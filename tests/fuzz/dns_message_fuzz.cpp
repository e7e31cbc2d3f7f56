// libFuzzer target for the DNS message decoder (src/dns/message.cpp): any bytes, as a reply from
// a hostile server. Invariants: no crash or over-read (ASan), a decoded message has at most as
// many records as its bytes can hold, every name ends with '.', and no presentation text holds a
// raw control byte (they are escaped as \DDD); a query built from a decoded name decodes back.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dns/message.h"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "dns_message_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

void check_text(const std::string& s) {
  for (char c : s) require(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f, "raw control byte in text");
}

void check_name(const std::string& s) {
  require(!s.empty() && s.back() == '.', "name not ending in '.'");
  check_text(s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto m = nuri::dns::decode(bytes, error);
  if (!m) {
    require(!error.empty(), "failure without a reason");
    return 0;
  }
  require(size >= 12, "decoded fewer than 12 bytes");
  require(m->questions.size() * 5 + (m->answers.size() + m->authority.size() + m->additional.size()) * 11 <= size,
          "more entries than the bytes can hold");
  for (const auto& q : m->questions) {
    check_name(q.name);
    // A decoded name, in presentation form with dig's escapes, builds into a query again, which
    // build_query reads with the same escapes: the name comes back unchanged.
    if (q.name.size() > 1) {
      std::string packet, why;
      if (nuri::dns::build_query(q.name, q.type, 1, packet, why)) {
        auto back = nuri::dns::decode(packet, why);
        require(back && back->questions.size() == 1, "built query does not decode");
        require(back->questions[0].name == q.name, "name changed through build and decode");
      }
    }
  }
  for (const auto* section : {&m->answers, &m->authority, &m->additional}) {
    for (const auto& r : *section) {
      check_name(r.name);
      check_text(r.data);
      if (!r.target.empty()) check_name(r.target);
    }
  }
  (void)nuri::dns::cname_chain(m->answers, m->questions.empty() ? "." : m->questions[0].name);
  return 0;
}
