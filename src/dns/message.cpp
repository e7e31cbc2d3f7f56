#include "dns/message.h"

#include <arpa/inet.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace nuri::dns {

namespace {

struct TypeName {
  std::uint16_t type;
  std::string_view name;
};
constexpr TypeName kTypes[] = {
    {1, "A"},    {2, "NS"},  {5, "CNAME"}, {6, "SOA"},  {12, "PTR"},  {15, "MX"},
    {16, "TXT"}, {28, "AAAA"}, {33, "SRV"}, {41, "OPT"}, {257, "CAA"}, {255, "ANY"},
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Reads the message front to back; every read checks the bounds first.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  std::size_t pos() const { return pos_; }
  std::size_t left() const { return bytes_.size() - pos_; }

  bool u8(std::uint8_t& v) {
    if (left() < 1) return false;
    v = static_cast<std::uint8_t>(bytes_[pos_++]);
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (left() < 2) return false;
    v = static_cast<std::uint16_t>((byte(pos_) << 8) | byte(pos_ + 1));
    pos_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (left() < 4) return false;
    v = (static_cast<std::uint32_t>(byte(pos_)) << 24) | (static_cast<std::uint32_t>(byte(pos_ + 1)) << 16) |
        (static_cast<std::uint32_t>(byte(pos_ + 2)) << 8) | byte(pos_ + 3);
    pos_ += 4;
    return true;
  }
  bool bytes(std::size_t n, std::string_view& out) {
    if (left() < n) return false;
    out = bytes_.substr(pos_, n);
    pos_ += n;
    return true;
  }

  // RFC 1035 §4.1.4: labels, or a pointer to an earlier name. A pointer must point before the
  // start of the name that holds it, so following pointers always moves backwards and ends.
  bool name(std::string& out) {
    out.clear();
    std::size_t at = pos_;
    std::size_t limit = pos_;  // pointers must go below this
    bool jumped = false;
    std::size_t wire_length = 1;  // the final root label
    while (true) {
      if (at >= bytes_.size()) return false;
      auto len = static_cast<std::uint8_t>(byte(at));
      if ((len & 0xC0) == 0xC0) {
        if (at + 1 >= bytes_.size()) return false;
        std::size_t target = static_cast<std::size_t>(((len & 0x3F) << 8) | byte(at + 1));
        if (!jumped) pos_ = at + 2;
        if (target >= limit) return false;
        jumped = true;
        limit = target;
        at = target;
        continue;
      }
      if ((len & 0xC0) != 0) return false;  // 01 and 10 prefixes: obsolete or unassigned
      if (len == 0) {
        if (!jumped) pos_ = at + 1;
        if (out.empty()) out = ".";
        return true;
      }
      if (at + 1 + len > bytes_.size()) return false;
      wire_length += 1u + len;
      if (wire_length > 255) return false;
      append_label(bytes_.substr(at + 1, len), out);
      out += '.';
      at += 1u + len;
    }
  }

 private:
  unsigned byte(std::size_t i) const { return static_cast<unsigned char>(bytes_[i]); }

  // Presentation form of a label (RFC 1035 §5.1), escaped as dig does.
  static void append_label(std::string_view label, std::string& out) {
    for (char ch : label) {
      auto c = static_cast<unsigned char>(ch);
      if (c <= 0x20 || c >= 0x7f) {
        out += fmt::format("\\{:03}", c);
      } else if (c == '.' || c == '"' || c == '(' || c == ')' || c == ';' || c == '\\' || c == '@' ||
                 c == '$') {
        out += '\\';
        out += ch;
      } else {
        out += ch;
      }
    }
  }

  std::string_view bytes_;
  std::size_t pos_ = 0;
};

void append_character_string(std::string_view s, std::string& out) {
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\{:03}", c);
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else {
      out += ch;
    }
  }
  out += '"';
}

// RDATA into presentation form. `r` reads the whole message (names may point anywhere before);
// the RDATA spans [start, end).
bool decode_rdata(Reader& r, std::size_t end, Record& rec) {
  std::string& out = rec.data;
  auto done = [&] { return r.pos() == end; };
  switch (rec.type) {
    case 1: {  // A
      std::string_view b;
      if (end - r.pos() != 4 || !r.bytes(4, b)) return false;
      char text[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, b.data(), text, sizeof text);
      out = text;
      return true;
    }
    case 28: {  // AAAA
      std::string_view b;
      if (end - r.pos() != 16 || !r.bytes(16, b)) return false;
      char text[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET6, b.data(), text, sizeof text);
      out = text;
      return true;
    }
    case 2: case 5: case 12:  // NS, CNAME, PTR
      if (!r.name(rec.target) || !done()) return false;
      out = rec.target;
      return true;
    case 15: {  // MX
      std::uint16_t pref = 0;
      if (!r.u16(pref) || !r.name(rec.target) || !done()) return false;
      out = fmt::format("{} {}", pref, rec.target);
      return true;
    }
    case 33: {  // SRV (RFC 2782)
      std::uint16_t prio = 0, weight = 0, port = 0;
      if (!r.u16(prio) || !r.u16(weight) || !r.u16(port) || !r.name(rec.target) || !done()) return false;
      out = fmt::format("{} {} {} {}", prio, weight, port, rec.target);
      return true;
    }
    case 6: {  // SOA
      std::string mname, rname;
      std::uint32_t v[5];
      if (!r.name(mname) || !r.name(rname)) return false;
      for (auto& x : v) {
        if (!r.u32(x)) return false;
      }
      if (!done()) return false;
      out = fmt::format("{} {} {} {} {} {} {}", mname, rname, v[0], v[1], v[2], v[3], v[4]);
      return true;
    }
    case 16: {  // TXT: one or more character-strings
      if (r.pos() == end) return false;
      while (r.pos() < end) {
        std::uint8_t len = 0;
        std::string_view s;
        if (!r.u8(len) || r.pos() + len > end || !r.bytes(len, s)) return false;
        if (!out.empty()) out += ' ';
        append_character_string(s, out);
      }
      return true;
    }
    default: {  // RFC 3597 §5: \# length hex
      std::string_view b;
      if (!r.bytes(end - r.pos(), b)) return false;
      out = fmt::format("\\# {}", b.size());
      if (!b.empty()) out += ' ';
      for (char c : b) out += fmt::format("{:02x}", static_cast<unsigned char>(c));
      return true;
    }
  }
}

bool read_record(Reader& r, Record& rec, std::string& error) {
  std::uint16_t rdlength = 0;
  if (!r.name(rec.name) || !r.u16(rec.type) || !r.u16(rec.klass) || !r.u32(rec.ttl) || !r.u16(rdlength)) {
    error = "record cut short or bad name";
    return false;
  }
  if (rdlength > r.left()) {
    error = "record data longer than the message";
    return false;
  }
  std::size_t end = r.pos() + rdlength;
  if (!decode_rdata(r, end, rec)) {
    error = fmt::format("malformed {} record data", type_name(rec.type));
    return false;
  }
  return true;
}

struct Header {
  std::uint16_t id = 0, flags = 0, qd = 0, an = 0, ns = 0, ar = 0;
};

bool read_header(Reader& r, Header& h, std::string& error) {
  if (!r.u16(h.id) || !r.u16(h.flags) || !r.u16(h.qd) || !r.u16(h.an) || !r.u16(h.ns) || !r.u16(h.ar)) {
    error = "shorter than a DNS header (12 bytes)";
    return false;
  }
  return true;
}

bool read_questions(Reader& r, unsigned count, std::vector<Question>& out, std::string& error) {
  for (unsigned i = 0; i < count; ++i) {
    Question q;
    if (!r.name(q.name) || !r.u16(q.type) || !r.u16(q.klass)) {
      error = "question cut short or bad name";
      return false;
    }
    out.push_back(std::move(q));
  }
  return true;
}

// A message's header and question section, without its records.
bool read_head(std::string_view bytes, Header& h, std::vector<Question>& questions, std::string& error) {
  Reader r(bytes);
  return read_header(r, h, error) && read_questions(r, h.qd, questions, error);
}

bool same_question(const Question& a, const Question& b) {
  return iequals(a.name, b.name) && a.type == b.type && a.klass == b.klass;
}

// After a backslash at text[i] (RFC 1035 §5.1): "\DDD" is the byte of decimal DDD, "\X" is X
// itself. Leaves `i` on the escape's last character.
bool read_escape(std::string_view text, std::size_t& i, char& out, std::string& error) {
  if (i + 1 == text.size()) {
    error = "bad escape: a backslash at the end";
    return false;
  }
  if (!std::isdigit(static_cast<unsigned char>(text[i + 1]))) {
    out = text[++i];
    return true;
  }
  std::string_view digits = text.substr(i + 1, 3);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + 3 || value > 255) {
    error = fmt::format("bad escape '\\{}': \\DDD is three decimal digits, at most 255", digits);
    return false;
  }
  out = static_cast<char>(value);
  i += 3;
  return true;
}

bool end_label(std::string& label, std::string& wire, std::string& error) {
  if (label.empty()) {
    error = "empty label (two dots in a row, or a leading dot)";
    return false;
  }
  if (label.size() > 63) {
    error = fmt::format("label '{}' is longer than 63 bytes", label);
    return false;
  }
  wire += static_cast<char>(label.size());
  wire += label;
  label.clear();
  return true;
}

// A name in master-file text into its wire form (labels, then the root's zero byte).
bool encode_name(std::string_view text, std::string& wire, std::string& error) {
  wire.clear();
  if (text.empty()) {
    error = "empty name";
    return false;
  }
  if (text != ".") {  // the root alone has no label; "a." is absolute, ".." two empty labels
    std::string label;
    for (std::size_t i = 0; i < text.size(); ++i) {
      char c = text[i];
      if (c == '.') {
        if (!end_label(label, wire, error)) return false;
        continue;
      }
      if (c == '\\' && !read_escape(text, i, c, error)) return false;
      label += c;
    }
    if (!label.empty() && !end_label(label, wire, error)) return false;  // a name without the final dot
  }
  wire += '\0';
  if (wire.size() > 255) {
    error = "name longer than 255 bytes";
    return false;
  }
  return true;
}

}  // namespace

std::string type_name(std::uint16_t type) {
  for (const auto& t : kTypes) {
    if (t.type == type) return std::string(t.name);
  }
  return fmt::format("TYPE{}", type);
}

std::optional<std::uint16_t> type_from_name(std::string_view name) {
  for (const auto& t : kTypes) {
    if (iequals(t.name, name)) return t.type;
  }
  if (name.size() > 4 && iequals(name.substr(0, 4), "TYPE")) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(name.data() + 4, name.data() + name.size(), v);
    if (ec == std::errc() && p == name.data() + name.size() && v <= 65535) return static_cast<std::uint16_t>(v);
  }
  return std::nullopt;
}

std::string rcode_name(int rcode) {
  static constexpr std::string_view kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                                "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                                "NXRRSET", "NOTAUTH", "NOTZONE"};
  if (rcode >= 0 && rcode < static_cast<int>(std::size(kNames))) return std::string(kNames[rcode]);
  if (rcode == 16) return "BADVERS";
  return fmt::format("RCODE{}", rcode);
}

std::optional<Message> decode(std::string_view bytes, std::string& error) {
  Reader r(bytes);
  Message m;
  Header h;
  if (!read_header(r, h, error)) return std::nullopt;
  const std::uint16_t flags = h.flags, qd = h.qd, an = h.an, ns = h.ns, ar = h.ar;
  m.id = h.id;
  m.response = flags & 0x8000;
  m.opcode = static_cast<std::uint8_t>((flags >> 11) & 0xF);
  m.authoritative = flags & 0x0400;
  m.truncated = flags & 0x0200;
  m.recursion_desired = flags & 0x0100;
  m.recursion_available = flags & 0x0080;
  m.rcode = flags & 0xF;
  // Each entry takes at least 5 (question) or 11 (record) bytes: counts that cannot fit are
  // refused before anything is reserved.
  if (qd * 5ull + (an + ns + ar) * 11ull > r.left()) {
    error = "section counts larger than the message";
    return std::nullopt;
  }
  if (!read_questions(r, qd, m.questions, error)) return std::nullopt;
  std::vector<Record>* sections[] = {&m.answers, &m.authority, &m.additional};
  std::uint16_t counts[] = {an, ns, ar};
  for (int s = 0; s < 3; ++s) {
    for (unsigned i = 0; i < counts[s]; ++i) {
      Record rec;
      if (!read_record(r, rec, error)) return std::nullopt;
      if (rec.type == static_cast<std::uint16_t>(Type::opt)) {
        // RFC 6891 §6.1.3: the TTL field holds the upper 8 bits of the extended RCODE.
        m.rcode |= static_cast<int>((rec.ttl >> 24) & 0xFF) << 4;
        continue;
      }
      sections[s]->push_back(std::move(rec));
    }
  }
  if (r.left() != 0) {
    error = fmt::format("{} bytes after the last record", r.left());
    return std::nullopt;
  }
  return m;
}

bool build_query(std::string_view name, std::uint16_t type, std::uint16_t id, std::string& out,
                 std::string& error) {
  std::string wire;
  if (!encode_name(name, wire, error)) return false;
  out.clear();
  auto put16 = [&](unsigned v) {
    out += static_cast<char>((v >> 8) & 0xFF);
    out += static_cast<char>(v & 0xFF);
  };
  put16(id);
  put16(0x0100);  // RD
  put16(1);
  put16(0);
  put16(0);
  put16(0);
  out += wire;
  put16(type);
  put16(1);  // IN
  return true;
}

std::optional<std::string> presentation_name(std::string_view name, std::string& error) {
  std::string wire, text;
  if (!encode_name(name, wire, error)) return std::nullopt;
  Reader(wire).name(text);  // a name encode_name wrote always reads back
  return text;
}

std::string reply_mismatch(std::string_view query, std::string_view reply) {
  Header asked_head, head;
  std::vector<Question> asked, questions;
  std::string error;
  if (!read_head(query, asked_head, asked, error)) return {};  // no query to match against
  Reader r(reply);
  if (!read_header(r, head, error)) return error;
  if (head.id != asked_head.id) return {};
  if (head.qd != asked_head.qd) return fmt::format("{} questions in the reply, {} asked", head.qd, asked_head.qd);
  if (!read_questions(r, head.qd, questions, error)) return error;
  if (!std::equal(asked.begin(), asked.end(), questions.begin(), same_question)) {
    return fmt::format("the reply's question ({} {}) is not the one asked ({} {})", questions[0].name,
                       type_name(questions[0].type), asked[0].name, type_name(asked[0].type));
  }
  return {};
}

std::optional<std::string> reverse_name(std::string_view text) {
  std::string s(text);
  unsigned char b[16];
  if (inet_pton(AF_INET, s.c_str(), b) == 1) {
    return fmt::format("{}.{}.{}.{}.in-addr.arpa.", b[3], b[2], b[1], b[0]);
  }
  if (inet_pton(AF_INET6, s.c_str(), b) == 1) {
    std::string out;
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; --i) {
      out += kHex[b[i] & 0xF];
      out += '.';
      out += kHex[b[i] >> 4];
      out += '.';
    }
    return out + "ip6.arpa.";
  }
  return std::nullopt;
}

std::vector<std::string> cname_chain(const std::vector<Record>& answers, std::string_view name) {
  std::vector<std::string> chain;
  std::string current(name);
  while (chain.size() < answers.size()) {
    auto it = std::find_if(answers.begin(), answers.end(), [&](const Record& r) {
      return r.type == static_cast<std::uint16_t>(Type::cname) && iequals(r.name, current);
    });
    if (it == answers.end()) break;
    if (iequals(it->target, name) ||
        std::any_of(chain.begin(), chain.end(), [&](const std::string& c) { return iequals(c, it->target); })) {
      break;  // a loop
    }
    chain.push_back(it->target);
    current = it->target;
  }
  return chain;
}

}  // namespace nuri::dns
