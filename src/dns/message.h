#pragma once
// DNS messages (RFC 1035 §4): building a query and decoding a reply into presentation text, as
// dig shows it. Sans-I/O: bytes in, a Message out; c-ares carries the bytes (lookup.h).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nuri::dns {

/// Record types nuri names; any other number is shown as "TYPEnnn" (RFC 3597).
enum class Type : std::uint16_t {
  a = 1, ns = 2, cname = 5, soa = 6, ptr = 12, mx = 15, txt = 16, aaaa = 28, srv = 33, opt = 41,
  any = 255,  ///< QTYPE *: records of every type (RFC 1035 §3.2.3)
};

/// "A", "MX", ... or "TYPE99" for numbers nuri has no name for.
std::string type_name(std::uint16_t type);
/// The number of a type name (case-insensitive: "a", "MX", "TYPE99"); nullopt if unknown.
std::optional<std::uint16_t> type_from_name(std::string_view name);

/// Response codes (RFC 1035 §4.1.1, RFC 6895).
enum class Rcode : std::uint8_t { noerror = 0, formerr = 1, servfail = 2, nxdomain = 3, notimp = 4, refused = 5 };
/// "NOERROR", "NXDOMAIN", ... or "RCODE9".
std::string rcode_name(int rcode);

struct Question {
  std::string name;  ///< presentation form, ending with '.'
  std::uint16_t type = 0;
  std::uint16_t klass = 1;
};

/// One resource record, its data in the presentation form dig prints (RFC 1035 §5.1):
/// "10.0.0.1", "10 mail.example.", "\"text\" \"more\"", "ns. host. 1 2 3 4 5", "\# 2 abcd".
struct Record {
  std::string name;
  std::uint16_t type = 0;
  std::uint16_t klass = 1;
  std::uint32_t ttl = 0;
  std::string data;
  std::string target;  ///< CNAME, NS, PTR, MX, SRV: the name it points to; else empty
};

struct Message {
  std::uint16_t id = 0;
  bool response = false;       ///< QR
  std::uint8_t opcode = 0;
  bool authoritative = false;  ///< AA
  bool truncated = false;      ///< TC
  bool recursion_desired = false;
  bool recursion_available = false;
  int rcode = 0;               ///< with the EDNS extended bits when an OPT record has them
  std::vector<Question> questions;
  std::vector<Record> answers;
  std::vector<Record> authority;
  std::vector<Record> additional;  ///< without the OPT pseudo-record
};

/// Decodes a whole DNS message. Every length, pointer and count is checked against the bytes:
/// compression pointers must point backwards (so no loop), a name is at most 255 bytes, RDATA
/// must be used exactly by its type's fields. On failure returns nullopt and says why in `error`.
std::optional<Message> decode(std::string_view bytes, std::string& error);

/// Builds a standard query (RD set, one question, no EDNS) for `name`, written as in a master
/// file and as dig reads it (RFC 1035 §5.1): "example.com" or "example.com.", "." the root,
/// "a\.b" a label holding a dot, "\DDD" the byte DDD (decimal, at most 255). Returns false
/// and says why when the name is not a valid domain name (empty label, bad escape, label over
/// 63 bytes, name over 255 bytes).
bool build_query(std::string_view name, std::uint16_t type, std::uint16_t id, std::string& out,
                 std::string& error);

/// The name a query for `name` carries, in the presentation form decode() gives the names of a
/// reply (escapes as dig writes them, a final dot): "a\.b.test." stays itself, a raw ESC byte
/// comes out as "\027". nullopt, and why in `error`, when build_query would refuse `name`.
std::optional<std::string> presentation_name(std::string_view name, std::string& error);

/// Why `reply` cannot be the reply to `query` (both whole messages), or empty when it can. This
/// is how c-ares matches a reply to its query before handing it over, and it drops the others
/// without a word: shorter than a header, or a question section other than the query's. A reply
/// with another query's ID is not this query's (a late reply): empty, as dig waits on too. Only
/// the header and the questions are read, since a truncated reply's records may be cut short.
std::string reply_mismatch(std::string_view query, std::string_view reply);

/// The reverse-lookup name of an IPv4 or IPv6 address ("4.3.2.1.in-addr.arpa.",
/// nibbles under "ip6.arpa."), or nullopt when `text` is not an address.
std::optional<std::string> reverse_name(std::string_view text);

/// The CNAME chain that starts at `name` in `answers`: the names it is an alias of, in order
/// (empty when `name` is not an alias). Stops at a loop.
std::vector<std::string> cname_chain(const std::vector<Record>& answers, std::string_view name);

}  // namespace nuri::dns
