#include <gtest/gtest.h>

#include <utility>

#include <string>

#include "net/address.h"
#include "net/proxy_protocol.h"

namespace nuri::net {
namespace {

std::string header(ProxyProtocol version, const char* client, const char* local) {
  auto c = SocketAddress::parse(client);
  auto l = SocketAddress::parse(local);
  char out[kProxyHeaderMax];
  std::size_t n = write_proxy_header(version, c->get(), l->get(), out);
  return std::string(out, n);
}

TEST(ProxyHeader, Version1) {
  EXPECT_EQ(header(ProxyProtocol::v1, "10.0.0.2:51234", "10.0.0.1:65535"),
            "PROXY TCP4 10.0.0.2 10.0.0.1 51234 65535\r\n");
  EXPECT_EQ(header(ProxyProtocol::v1, "[2001:db8::2]:1", "[::1]:80"), "PROXY TCP6 2001:db8::2 ::1 1 80\r\n");
  // Mixed families: both as IPv6; IPv4-mapped on both sides: both as IPv4.
  EXPECT_EQ(header(ProxyProtocol::v1, "10.0.0.2:1", "[::1]:80"), "PROXY TCP6 ::ffff:10.0.0.2 ::1 1 80\r\n");
  EXPECT_EQ(header(ProxyProtocol::v1, "[::ffff:10.0.0.2]:1", "[::ffff:10.0.0.1]:80"), "PROXY TCP4 10.0.0.2 10.0.0.1 1 80\r\n");
  EXPECT_EQ(header(ProxyProtocol::none, "10.0.0.2:1", "10.0.0.1:2"), "");
}

TEST(ProxyHeader, LongestVersion1FitsTheSpecLimit) {
  std::string h = header(ProxyProtocol::v1, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
                         "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
  EXPECT_EQ(h.size(), 104u);
  EXPECT_LE(h.size(), 107u);
}

TEST(ProxyHeader, Version2) {
  std::string v4 = header(ProxyProtocol::v2, "10.0.0.2:51234", "10.0.0.1:65535");
  const std::string expected_v4 =
      std::string("\r\n\r\n\0\r\nQUIT\n", 12) + "\x21\x11" + std::string("\x00\x0c", 2) + std::string("\x0a\x00\x00\x02", 4) +
      std::string("\x0a\x00\x00\x01", 4) + "\xc8\x22" + "\xff\xff";
  EXPECT_EQ(v4, expected_v4);
  std::string v6 = header(ProxyProtocol::v2, "[2001:db8::2]:1", "[::1]:80");
  ASSERT_EQ(v6.size(), 52u);
  EXPECT_EQ(v6.substr(12, 4), std::string("\x21\x21\x00\x24", 4));
  EXPECT_EQ(v6.substr(16, 4), "\x20\x01\x0d\xb8");
  EXPECT_EQ(v6.substr(48), std::string("\x00\x01\x00\x50", 4));
}

std::string host_of(const sockaddr_storage& sa) {
  return SocketAddress::from(reinterpret_cast<const sockaddr*>(&sa), sizeof sa).to_string();
}

TEST(ProxyHeaderRead, WhatTheWriterWritesReadsBack) {
  for (ProxyProtocol version : {ProxyProtocol::v1, ProxyProtocol::v2}) {
    for (auto [client, local] : {std::pair{"10.0.0.2:51234", "10.0.0.1:65535"}, std::pair{"[2001:db8::2]:1", "[::1]:80"},
                                 std::pair{"10.0.0.2:0", "[::1]:80"}}) {
      std::string h = header(version, client, local);
      std::string stream = h + "GET / HTTP/1.1\r\n";
      // Every prefix asks for more; the whole header is recognised without the bytes after it.
      for (std::size_t n = 0; n < h.size(); ++n) {
        EXPECT_EQ(read_proxy_header(std::string_view(stream).substr(0, n)).status, ProxyHeader::Status::incomplete)
            << client << " prefix " << n;
      }
      ProxyHeader r = read_proxy_header(stream);
      ASSERT_EQ(r.status, ProxyHeader::Status::complete) << client;
      EXPECT_EQ(r.version, version);
      EXPECT_EQ(r.length, h.size());
      ASSERT_TRUE(r.has_addresses);
      if (std::string(client) == "10.0.0.2:0") {
        EXPECT_EQ(host_of(r.source), "[::ffff:10.0.0.2]:0");  // mixed families travel as IPv6
      } else {
        EXPECT_EQ(host_of(r.source), client);
        EXPECT_EQ(host_of(r.destination), local);
      }
    }
  }
}

ProxyHeader::Status status_of(std::string_view bytes) { return read_proxy_header(bytes).status; }

TEST(ProxyHeaderRead, Version1IsStrict) {
  using S = ProxyHeader::Status;
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), S::complete);
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.4 5.6.7.8 65535 0\r\n"), S::complete);
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), S::invalid);   // two spaces
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), S::invalid);   // trailing space
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"), S::invalid);  // a fifth field
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), S::invalid);
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), S::invalid);   // leading zero
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), S::invalid);
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n"), S::invalid);
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n"), S::invalid);
  EXPECT_EQ(status_of("PROXY TCP4 ::1 ::1 1 2\r\n"), S::invalid);            // family mismatch
  EXPECT_EQ(status_of("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n"), S::invalid);
  EXPECT_EQ(status_of("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), S::invalid);
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"), S::invalid);     // CR without LF
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), S::incomplete);   // LF alone: no end yet
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.4\n5.6.7.8 1 2\r\n"), S::invalid);
  EXPECT_EQ(status_of("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), S::invalid);
  EXPECT_EQ(status_of("PROXY\r\n"), S::invalid);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\n\r\n"), S::invalid);
  EXPECT_EQ(status_of("PROXY UNKNOWN\r\n"), S::complete);
  ProxyHeader unknown = read_proxy_header("PROXY UNKNOWN ffff::1 ::1 1 2\r\nGET");
  EXPECT_EQ(unknown.status, S::complete);
  EXPECT_FALSE(unknown.has_addresses);
  EXPECT_EQ(unknown.length, 31u);
  // The spec's limit is 107 bytes with CRLF: no end in sight by then means a broken sender.
  EXPECT_EQ(status_of("PROXY UNKNOWN " + std::string(92, 'x')), S::incomplete);
  EXPECT_EQ(status_of("PROXY UNKNOWN " + std::string(93, 'x')), S::invalid);
}

std::string v2(unsigned char version_command, unsigned char family, std::string body) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += static_cast<char>(version_command);
  h += static_cast<char>(family);
  h += static_cast<char>(body.size() >> 8);
  h += static_cast<char>(body.size() & 0xff);
  return h + body;
}

TEST(ProxyHeaderRead, Version2) {
  using S = ProxyHeader::Status;
  const std::string v4_addresses("\x0a\x00\x00\x02\x0a\x00\x00\x01\xc8\x22\x00\x50", 12);
  ProxyHeader with_tlv = read_proxy_header(v2(0x21, 0x11, v4_addresses + std::string("\x04\x00\x01x", 4)) + "GET");
  ASSERT_EQ(with_tlv.status, S::complete);
  EXPECT_EQ(with_tlv.length, 16u + 16u);  // TLVs are skipped
  EXPECT_EQ(host_of(with_tlv.source), "10.0.0.2:51234");
  EXPECT_EQ(host_of(with_tlv.destination), "10.0.0.1:80");

  ProxyHeader local = read_proxy_header(v2(0x20, 0x00, ""));  // the proxy's own health check
  EXPECT_EQ(local.status, S::complete);
  EXPECT_FALSE(local.has_addresses);
  ProxyHeader udp = read_proxy_header(v2(0x21, 0x12, v4_addresses));
  EXPECT_EQ(udp.status, S::complete);
  EXPECT_FALSE(udp.has_addresses);

  EXPECT_EQ(status_of(v2(0x11, 0x11, v4_addresses)), S::invalid);  // version 1 in a v2 header
  EXPECT_EQ(status_of(v2(0x22, 0x11, v4_addresses)), S::invalid);  // command 2
  EXPECT_EQ(status_of(v2(0x21, 0x41, v4_addresses)), S::invalid);  // family 4
  EXPECT_EQ(status_of(v2(0x21, 0x13, v4_addresses)), S::invalid);  // transport 3
  EXPECT_EQ(status_of(v2(0x21, 0x11, v4_addresses.substr(0, 11))), S::invalid);  // too short for IPv4
  EXPECT_EQ(status_of(v2(0x21, 0x21, v4_addresses + v4_addresses)), S::invalid);  // too short for IPv6
  EXPECT_EQ(status_of(v2(0x21, 0x11, v4_addresses + std::string(1012, '\0'))), S::complete);
  EXPECT_EQ(status_of(v2(0x21, 0x11, v4_addresses + std::string(1013, '\0'))), S::invalid);  // over 1 KiB
  EXPECT_EQ(status_of(std::string("\r\n\r\n\0\r\nQUIX", 11)), S::invalid);
  EXPECT_EQ(status_of(std::string("\r\n\r\n\0\r\nQU", 9)), S::incomplete);
}

}  // namespace
}  // namespace nuri::net
