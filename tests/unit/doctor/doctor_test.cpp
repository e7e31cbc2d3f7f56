#include "doctor/doctor.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "doctor/checks.h"

using namespace nuri::doctor;
using nuri::net::SocketAddress;

namespace {

SocketAddress addr(const char* text) { return *SocketAddress::parse(text); }

nuri::conns::Row listener(const char* local, std::uint32_t inode_owner_pid, const char* program, bool v6only = false) {
  nuri::conns::Row r;
  r.socket.protocol = nuri::conns::Protocol::tcp;
  r.socket.state = nuri::conns::TcpState::listen;
  r.socket.local = addr(local);
  r.socket.v6only = v6only;
  r.socket.send_q = 128;
  if (inode_owner_pid != 0) r.owners.push_back({static_cast<int>(inode_owner_pid), program});
  return r;
}

std::vector<Finding> coverage(const std::vector<ListenGroup>& groups, const char* target) {
  std::vector<Finding> out;
  coverage_finding(groups, addr(target), out);
  return out;
}

TEST(DoctorTarget, ParsesHostAndPort) {
  std::string error;
  auto t = parse_target("example.com:8080", error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->host, "example.com");
  EXPECT_EQ(t->port, 8080);
  t = parse_target("[::1]:80", error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->host, "::1");
  t = parse_target("192.168.17.17:1", error);
  ASSERT_TRUE(t && t->port == 1) << error;
  EXPECT_TRUE(parse_target("my_host.internal.:65535", error)) << error;
}

TEST(DoctorTarget, RefusesWhatIsNotHostPort) {
  for (const char* bad : {"", ":", "host", "host:", "host:0", "host:65536", "host:99999999999", "host:+80", "host:80 ",
                          "::1:80", "[::1]", "[::1]80", "[::1:80", "[1.2.3.4]:80", "300.1.2.3:80", "1.2.3:80",
                          "http://host:80/", "0.0.0.0:80", "[::]:80", "[0::0]:80", "a b:80", "a..b:80", ".a:80", ":80", "a/b:80", "h\xc3\xa9:80"}) {
    std::string error;
    EXPECT_FALSE(parse_target(bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
    EXPECT_EQ(error.find('\n'), std::string::npos) << bad;
  }
  std::string error;
  EXPECT_FALSE(parse_target(std::string(64, 'a') + ".com:80", error));  // a label over 63
  EXPECT_TRUE(parse_target(std::string(63, 'a') + ".com:80", error)) << error;
  // Control bytes are shown escaped, never sent to the terminal as they are.
  EXPECT_FALSE(parse_target("evil\x1b[2J:80", error));
  EXPECT_NE(error.find("\\x1b"), std::string::npos) << error;
  EXPECT_EQ(error.find('\x1b'), std::string::npos);
}

TEST(DoctorLocal, GroupsReusePortSocketsByAddress) {
  std::vector<nuri::conns::Row> rows = {listener("0.0.0.0:8080", 10, "nuri"), listener("0.0.0.0:8080", 10, "nuri"),
                                        listener("[::]:8080", 11, "other", true), listener("127.0.0.1:8080", 12, "py")};
  rows.push_back(listener("0.0.0.0:8080", 0, ""));
  rows.back().socket.state = nuri::conns::TcpState::established;  // not a listener: ignored
  auto groups = group_listeners(rows);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].address.to_string(), "0.0.0.0:8080");
  EXPECT_EQ(groups[0].sockets, 2);
  ASSERT_EQ(groups[0].owners.size(), 1u);
  EXPECT_EQ(groups[0].owners[0].pid, 10);
  EXPECT_EQ(groups[0].backlog, 256u);
  EXPECT_EQ(groups[1].address.to_string(), "127.0.0.1:8080");
  EXPECT_EQ(groups[2].address.to_string(), "[::]:8080");
  EXPECT_TRUE(groups[2].v6only);
}

TEST(DoctorLocal, WhoCoversWhichAddress) {
  auto group = [](const char* address, bool v6only = false) {
    ListenGroup g;
    g.address = addr(address);
    g.v6only = v6only;
    return g;
  };
  const ListenGroup any4 = group("0.0.0.0:80");
  const ListenGroup any6 = group("[::]:80");
  const ListenGroup any6only = group("[::]:80", true);
  const ListenGroup lo = group("127.0.0.1:80");
  const ListenGroup mapped = group("[::ffff:10.0.0.1]:80");
  EXPECT_TRUE(covers(any4, addr("10.0.0.1:80")));
  EXPECT_TRUE(covers(any4, addr("127.0.0.2:80")));
  EXPECT_FALSE(covers(any4, addr("10.0.0.1:81")));
  EXPECT_FALSE(covers(any4, addr("[fe80::1]:80")));
  EXPECT_TRUE(covers(any6, addr("10.0.0.1:80")));  // dual stack
  EXPECT_TRUE(covers(any6, addr("[2001:db8::1]:80")));
  EXPECT_FALSE(covers(any6only, addr("10.0.0.1:80")));
  EXPECT_TRUE(covers(any6only, addr("[::1]:80")));
  EXPECT_TRUE(covers(lo, addr("127.0.0.1:80")));
  EXPECT_FALSE(covers(lo, addr("127.0.0.2:80")));
  EXPECT_FALSE(covers(lo, addr("10.0.0.1:80")));
  EXPECT_TRUE(covers(mapped, addr("10.0.0.1:80")));
  EXPECT_FALSE(covers(mapped, addr("10.0.0.2:80")));
}

TEST(DoctorLocal, CoverageVerdicts) {
  auto groups = [](std::vector<nuri::conns::Row> rows) { return group_listeners(rows); };
  auto none = coverage({}, "10.0.0.1:8080");
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0].code, "not_listening");
  EXPECT_EQ(none[0].severity, Severity::problem);
  EXPECT_NE(none[0].fix.find("`nuri serve --listen 0.0.0.0:8080`"), std::string::npos);

  auto loop = coverage(groups({listener("127.0.0.1:8080", 5, "nuri"), listener("[::1]:8080", 5, "nuri", true)}),
                       "10.0.0.1:8080");
  ASSERT_EQ(loop.size(), 1u);
  EXPECT_EQ(loop[0].code, "loopback_only");
  EXPECT_NE(loop[0].text.find("nuri (pid 5) listens on 127.0.0.1:8080 and [::1]:8080 only"), std::string::npos)
      << loop[0].text;
  EXPECT_NE(loop[0].fix.find("bind 0.0.0.0:8080"), std::string::npos);
  // IPv6 client: the fix is [::].
  auto loop6 = coverage(groups({listener("[::1]:8080", 5, "nuri", true)}), "[2001:db8::5]:8080");
  ASSERT_EQ(loop6.size(), 1u);
  EXPECT_NE(loop6[0].fix.find("`nuri serve --listen '[::]:8080'`"), std::string::npos) << loop6[0].fix;

  auto family = coverage(groups({listener("[::]:8080", 5, "nuri", true)}), "10.0.0.1:8080");
  ASSERT_EQ(family.size(), 1u);
  EXPECT_EQ(family[0].code, "wrong_family");
  auto family6 = coverage(groups({listener("0.0.0.0:8080", 5, "nuri")}), "[2001:db8::5]:8080");
  ASSERT_EQ(family6.size(), 1u);
  EXPECT_EQ(family6[0].code, "wrong_family");
  EXPECT_NE(family6[0].text.find("for IPv4 only"), std::string::npos) << family6[0].text;

  auto other = coverage(groups({listener("10.0.0.2:8080", 5, "nuri")}), "10.0.0.1:8080");
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(other[0].code, "other_address");

  EXPECT_TRUE(coverage(groups({listener("0.0.0.0:8080", 5, "nuri")}), "10.0.0.1:8080").empty());
  EXPECT_TRUE(coverage(groups({listener("127.0.0.1:8080", 5, "nuri")}), "127.0.0.1:8080").empty());
  // Loopback-only asked for by another loopback address: a specific address, not loopback_only.
  EXPECT_EQ(coverage(groups({listener("127.0.0.1:8080", 5, "nuri")}), "127.0.0.2:8080")[0].code, "other_address");
}

TEST(DoctorLocal, DescribesListenersSharingAndFullQueues) {
  auto rows = std::vector<nuri::conns::Row>{listener("0.0.0.0:80", 7, "nginx"), listener("0.0.0.0:80", 9, "python3")};
  rows[1].socket.recv_q = 129;  // more than its backlog of 128 wait
  std::vector<Finding> out;
  describe_listeners(group_listeners(rows), {addr("10.0.0.1:80")}, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].code, "listening");
  EXPECT_EQ(out[0].severity, Severity::ok);
  EXPECT_EQ(out[0].text,
            "nginx (pid 7) and python3 (pid 9) listen on 0.0.0.0:80 (every IPv4 interface), 2 sockets sharing it "
            "with SO_REUSEPORT (the kernel spreads new connections over them).");
  EXPECT_EQ(out[1].code, "shared_port");
  EXPECT_EQ(out[1].severity, Severity::warning);
  EXPECT_EQ(out[2].code, "accept_queue_full");
  EXPECT_NE(out[2].text.find("129 connections wait, backlog 256"), std::string::npos) << out[2].text;

  out.clear();
  describe_listeners(group_listeners({listener("127.0.0.1:80", 0, "")}), {addr("10.0.0.1:80")}, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].severity, Severity::info);  // it does not serve the address asked for
  EXPECT_NE(out[0].text.find("run as root"), std::string::npos);
}

TEST(DoctorLocal, ProgramNamesAreEscaped) {
  std::vector<Finding> out;
  describe_listeners(group_listeners({listener("0.0.0.0:80", 7, "e\x1b[2J\x9b")}), {addr("10.0.0.1:80")}, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text.find('\x1b'), std::string::npos) << out[0].text;
  EXPECT_NE(out[0].text.find("e\\x1b[2J\\x9b (pid 7) listens"), std::string::npos) << out[0].text;
}

TEST(DoctorLocal, LocalInterfaces) {
  const std::vector<std::string> interfaces = {"127.0.0.1 (lo)", "192.168.17.17 (eth0)", "fe80::1 (eth0)"};
  EXPECT_EQ(local_interface(addr("192.168.17.17:80"), interfaces), "eth0");
  EXPECT_EQ(local_interface(addr("127.0.0.53:80"), interfaces), "lo");
  EXPECT_EQ(local_interface(addr("[::1]:80"), interfaces), "lo");
  EXPECT_EQ(local_interface(addr("192.168.17.1:80"), interfaces), "");
  EXPECT_EQ(local_interface(addr("192.168.17.1:80"), {}), "");
}

ConnectResult icmp(bool v6, int type, int code) {
  ConnectResult r;
  r.icmp = true;
  r.icmp_v6 = v6;
  r.icmp_type = type;
  r.icmp_code = code;
  r.icmp_from = "192.0.2.1";
  r.address = addr("198.51.100.7:443");
  return r;
}

TEST(DoctorConnect, Verdicts) {
  ConnectResult r;
  classify_connect(0, r);
  EXPECT_EQ(r.verdict, ConnectVerdict::connected);
  classify_connect(ECONNREFUSED, r);
  EXPECT_EQ(r.verdict, ConnectVerdict::refused);
  classify_connect(ENETUNREACH, r);
  EXPECT_EQ(r.verdict, ConnectVerdict::unreachable);
  classify_connect(EHOSTUNREACH, r);
  EXPECT_EQ(r.verdict, ConnectVerdict::unreachable);
  classify_connect(EPERM, r);
  EXPECT_EQ(r.verdict, ConnectVerdict::blocked_locally);
  classify_connect(EINVAL, r);
  EXPECT_EQ(r.verdict, ConnectVerdict::error);

  // ICMP decides, whatever errno the kernel mapped it to.
  for (int code : {2, 3, 9, 10, 13}) {
    r = icmp(false, 3, code);
    classify_connect(code == 3 ? ECONNREFUSED : EHOSTUNREACH, r);
    EXPECT_EQ(r.verdict, ConnectVerdict::rejected) << code;
  }
  for (int code : {0, 1, 6, 7}) {
    r = icmp(false, 3, code);
    classify_connect(EHOSTUNREACH, r);
    EXPECT_EQ(r.verdict, ConnectVerdict::unreachable) << code;
  }
  for (int code : {1, 4, 5, 6}) {
    r = icmp(true, 1, code);
    classify_connect(EACCES, r);
    EXPECT_EQ(r.verdict, ConnectVerdict::rejected) << code;
  }
  r = icmp(true, 1, 3);
  classify_connect(EHOSTUNREACH, r);
  EXPECT_EQ(r.verdict, ConnectVerdict::unreachable);
}

TEST(DoctorConnect, FindingsNameTheSenderAndTheFix) {
  Target t{"example.com", 443};
  ConnectResult r = icmp(false, 3, 13);
  classify_connect(EHOSTUNREACH, r);
  Finding f = connect_finding(r, t, 3000, false);
  EXPECT_EQ(f.code, "rejected");
  EXPECT_EQ(f.severity, Severity::problem);
  EXPECT_NE(f.text.find("the router 192.0.2.1 answered the SYN with ICMP administratively prohibited"), std::string::npos)
      << f.text;
  EXPECT_NE(f.fix.find("firewall rules on 192.0.2.1"), std::string::npos) << f.fix;

  ConnectResult timeout;
  timeout.address = addr("198.51.100.7:443");
  timeout.verdict = ConnectVerdict::timeout;
  f = connect_finding(timeout, t, 1500, false);
  EXPECT_EQ(f.code, "timeout");
  EXPECT_NE(f.text.find("within 1.5 s"), std::string::npos) << f.text;
  EXPECT_NE(f.fix.find("tcp dport 443 accept"), std::string::npos);
  f = connect_finding(timeout, t, 1500, true);
  EXPECT_NE(f.text.find("this machine's firewall drops"), std::string::npos) << f.text;

  ConnectResult ok;
  ok.address = addr("198.51.100.7:443");
  ok.verdict = ConnectVerdict::connected;
  f = connect_finding(ok, t, 1500, false);
  EXPECT_EQ(f.severity, Severity::ok);
  EXPECT_TRUE(f.fix.empty());
}

TEST(DoctorHttp, ClassifiesReplies) {
  HttpResult r = classify_reply("HTTP/1.1 200 OK\r\nServer: nuri\r\nContent-Length: 5\r\n\r\n", ReadEnd::enough);
  EXPECT_EQ(r.verdict, HttpVerdict::answered);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(r.server, "nuri");
  r = classify_reply("HTTP/1.0 404 \r\n\r\n", ReadEnd::closed);
  EXPECT_EQ(r.verdict, HttpVerdict::answered);
  EXPECT_EQ(r.status_line, "HTTP/1.0 404");

  EXPECT_EQ(classify_reply("", ReadEnd::closed).verdict, HttpVerdict::closed);
  EXPECT_EQ(classify_reply("", ReadEnd::reset).verdict, HttpVerdict::reset);
  EXPECT_EQ(classify_reply("", ReadEnd::timeout).verdict, HttpVerdict::silent);

  r = classify_reply("HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", ReadEnd::enough);
  EXPECT_EQ(r.verdict, HttpVerdict::malformed);
  EXPECT_FALSE(r.detail.empty());
  r = classify_reply("HTTP/1.1 200 OK\r\nA: b\r\n", ReadEnd::closed);
  EXPECT_EQ(r.verdict, HttpVerdict::malformed);
  EXPECT_EQ(r.detail, "the connection ended in the middle of the head");
  EXPECT_EQ(classify_reply("HTT", ReadEnd::timeout).verdict, HttpVerdict::malformed);
  EXPECT_EQ(classify_reply("HTTP/2 200\r\n\r\n", ReadEnd::enough).verdict, HttpVerdict::malformed);

  r = classify_reply(std::string("\x15\x03\x03\x00\x02\x02\x46", 7), ReadEnd::closed);
  EXPECT_EQ(r.verdict, HttpVerdict::tls);
  EXPECT_EQ(r.excerpt, "\\x15\\x03\\x03\\x00\\x02\\x02F");
  EXPECT_EQ(classify_reply(std::string("\x00\x00\x06\x04\x00\x00\x00\x00\x00", 9), ReadEnd::enough).verdict,
            HttpVerdict::http2);
  r = classify_reply("SSH-2.0-OpenSSH_9.2\r\n", ReadEnd::enough);
  EXPECT_EQ(r.verdict, HttpVerdict::not_http);
  EXPECT_EQ(r.excerpt, "SSH-2.0-OpenSSH_9.2");
  EXPECT_EQ(classify_reply("\xff\xfe", ReadEnd::closed).verdict, HttpVerdict::not_http);
  // Every single byte, and every prefix of a valid answer, is classified without a crash.
  for (int b = 0; b < 256; ++b) classify_reply(std::string(1, static_cast<char>(b)), ReadEnd::closed);
  const std::string ok = "HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\n";
  for (std::size_t n = 1; n < ok.size(); ++n) {
    EXPECT_NE(classify_reply(ok.substr(0, n), ReadEnd::closed).verdict, HttpVerdict::answered) << n;
  }
}

TEST(DoctorHttp, RequestAndFindings) {
  EXPECT_EQ(head_request({"::1", 8080}).substr(0, 35), "HEAD / HTTP/1.1\r\nHost: [::1]:8080\r\n");
  EXPECT_NE(head_request({"example.com", 80}).find("\r\nHost: example.com\r\n"), std::string::npos);
  EXPECT_NE(head_request({"example.com", 80}).find("\r\nConnection: close\r\n\r\n"), std::string::npos);

  HttpResult tls;
  tls.verdict = HttpVerdict::tls;
  Finding f = http_finding(tls, {"::1", 8443}, 3000);
  EXPECT_EQ(f.code, "tls");
  EXPECT_NE(f.fix.find("https://[::1]:8443/"), std::string::npos) << f.fix;
  HttpResult error;
  error.verdict = HttpVerdict::answered;
  error.status = 502;
  error.status_line = "HTTP/1.1 502 Bad Gateway";
  f = http_finding(error, {"h", 80}, 3000);
  EXPECT_EQ(f.severity, Severity::warning);
  EXPECT_EQ(f.text.rfind("HTTP answers: HTTP/1.1 502 Bad Gateway in ", 0), 0u) << f.text;
}

TEST(DoctorTls, ClientHelloIsOneWellFormedRecord) {
  for (const char* host : {"example.com", "127.0.0.1", "::1", ""}) {
    const std::string hello = client_hello(host);
    ASSERT_GE(hello.size(), 9u);
    EXPECT_TRUE(looks_like_tls(hello));
    const std::size_t record = (static_cast<unsigned char>(hello[3]) << 8) | static_cast<unsigned char>(hello[4]);
    EXPECT_EQ(record + 5, hello.size());
    EXPECT_EQ(hello[5], '\x01');  // ClientHello
    const std::size_t handshake = (static_cast<unsigned char>(hello[6]) << 16) |
                                  (static_cast<unsigned char>(hello[7]) << 8) | static_cast<unsigned char>(hello[8]);
    EXPECT_EQ(handshake + 4, record);
    // server_name only for a name.
    EXPECT_EQ(hello.find("example.com") != std::string::npos, std::string(host) == "example.com") << host;
  }
  EXPECT_FALSE(looks_like_tls("HTTP/1.1"));
  EXPECT_FALSE(looks_like_tls(std::string("\x16\x03", 2)));
  EXPECT_FALSE(looks_like_tls(std::string("\x17\x03\x03", 3)));
}

TEST(DoctorReport, VerdictAndExitCode) {
  Report r;
  EXPECT_EQ(r.verdict(), "ok");
  EXPECT_EQ(r.exit_code(), 0);
  r.findings.push_back({"listening", Severity::ok, "local", "x.", ""});
  r.findings.push_back({"shared_port", Severity::warning, "local", "x.", ""});
  EXPECT_EQ(r.exit_code(), 0);
  r.findings.push_back({"loopback_only", Severity::problem, "local", "x.", "y"});
  r.findings.push_back({"refused", Severity::problem, "connect", "x.", "y"});
  EXPECT_EQ(r.verdict(), "loopback_only");
  EXPECT_EQ(r.exit_code(), 1);
  const std::string text = format_text(r);
  EXPECT_NE(text.find("\nproblem  local    x.\n                  fix: y\n"), std::string::npos) << text;
  EXPECT_NE(text.find("result: 2 problems found (loopback_only)\n"), std::string::npos) << text;
}

}  // namespace
