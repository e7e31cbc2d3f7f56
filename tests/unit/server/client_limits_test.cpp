#include "server/client_limits.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <array>
#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

using nuri::config::Limits;
using nuri::server::ClientLimits;
using Admit = ClientLimits::Admit;
using Slot = ClientLimits::Slot;

namespace {

// A sockaddr of either family, built from text ("10.0.0.1", "::1", "::ffff:10.0.0.1").
struct Address {
  sockaddr_storage storage{};
  explicit Address(const char* text, std::uint16_t port = 40000) {
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (::inet_pton(AF_INET, text, &in->sin_addr) == 1) {
      in->sin_family = AF_INET;
      in->sin_port = htons(port);
    } else {
      EXPECT_EQ(::inet_pton(AF_INET6, text, &in6->sin6_addr), 1) << text;
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(port);
    }
  }
  // The n-th of many distinct addresses: even n IPv4, odd n IPv6.
  static Address nth(std::uint32_t n) {
    Address a("0.0.0.0");
    if (n % 2 == 0) {
      auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
      in->sin_addr.s_addr = htonl(0x0a000000u + n / 2);
    } else {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
      *in6 = sockaddr_in6{};
      in6->sin6_family = AF_INET6;
      in6->sin6_addr.s6_addr[0] = 0x20;
      in6->sin6_addr.s6_addr[1] = 0x01;
      std::uint32_t be = htonl(n);
      std::memcpy(&in6->sin6_addr.s6_addr[12], &be, 4);
    }
    return a;
  }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

Limits limits(std::uint32_t per_client, double rate = 0, double burst = 0) {
  Limits l;
  l.max_connections_per_client = per_client;
  l.requests_per_second = rate;
  l.burst = burst;
  return l;
}

// Opens a connection that must be admitted; returns its slot.
Slot open(ClientLimits& cl, const Address& a, std::int64_t now = 0) {
  Slot slot;
  EXPECT_EQ(cl.try_open(a.get(), now, slot), Admit::ok);
  EXPECT_TRUE(slot.held());
  return slot;
}

}  // namespace

TEST(ClientLimits, DisabledWhenBothLimitsAreZero) {
  ClientLimits cl(limits(0), 1000);
  EXPECT_FALSE(cl.enabled());
  EXPECT_EQ(cl.memory_bytes(), 0u);  // nothing allocated for a feature that is off
  Slot slot;
  EXPECT_EQ(cl.try_open(Address("10.0.0.1").get(), 0, slot), Admit::ok);
  EXPECT_FALSE(slot.held());
  std::uint32_t retry = 0;
  EXPECT_TRUE(cl.take_request(slot, 0, retry));
  cl.close(slot);
  EXPECT_EQ(ClientLimits::capacity_for(limits(0), 8), 0u);
}

TEST(ClientLimits, EitherLimitEnablesIt) {
  EXPECT_TRUE(ClientLimits(limits(1), 100).enabled());
  EXPECT_TRUE(ClientLimits(limits(0, 0.5), 100).enabled());
}

TEST(ClientLimits, ConnectionsAreCountedPerAddressWhateverThePort) {
  ClientLimits cl(limits(2), 1000);
  Address a1("10.0.0.1", 1000), a2("10.0.0.1", 2000), a3("10.0.0.1", 3000), b("10.0.0.2");
  Slot s1 = open(cl, a1), s2 = open(cl, a2);
  Slot s3;
  EXPECT_EQ(cl.try_open(a3.get(), 0, s3), Admit::over_limit);
  EXPECT_FALSE(s3.held());
  EXPECT_EQ(cl.connections(a1.get()), 2u);
  Slot sb = open(cl, b);  // another address is not affected
  EXPECT_EQ(cl.connections(b.get()), 1u);
  EXPECT_EQ(cl.size(), 2u);
  cl.close(s1);
  cl.close(s2);
  cl.close(sb);
}

TEST(ClientLimits, Ipv6AndV4MappedIpv6) {
  ClientLimits cl(limits(2), 1000);
  Address v4("192.0.2.7"), mapped("::ffff:192.0.2.7"), compat("::c000:207"), v6("2001:db8::1"), v6b("2001:db8::2");
  Slot s1 = open(cl, v4), s2 = open(cl, mapped);
  Slot s3;
  EXPECT_EQ(cl.try_open(mapped.get(), 0, s3), Admit::over_limit);  // the same client both ways
  EXPECT_EQ(cl.try_open(v4.get(), 0, s3), Admit::over_limit);
  EXPECT_EQ(cl.connections(v4.get()), 2u);
  EXPECT_EQ(cl.connections(mapped.get()), 2u);
  Slot s4 = open(cl, compat);  // ::192.0.2.7 (v4-compatible) is a different address
  Slot s5 = open(cl, v6), s6 = open(cl, v6);
  EXPECT_EQ(cl.try_open(v6.get(), 0, s3), Admit::over_limit);
  Slot s7 = open(cl, v6b);
  for (Slot* s : {&s1, &s2, &s4, &s5, &s6, &s7}) cl.close(*s);
  EXPECT_EQ(cl.size(), 0u);
}

TEST(ClientLimits, CloseFreesASlotAndTwiceIsHarmless) {
  ClientLimits cl(limits(1), 1000);
  Address a("10.0.0.1");
  Slot s1 = open(cl, a);
  Slot s2;
  EXPECT_EQ(cl.try_open(a.get(), 0, s2), Admit::over_limit);
  cl.close(s1);
  EXPECT_FALSE(s1.held());
  EXPECT_EQ(cl.connections(a.get()), 0u);
  EXPECT_EQ(cl.size(), 0u);  // no rate limit: an address without connections is forgotten
  s2 = open(cl, a);
  Slot stale = s2;
  cl.close(s2);
  cl.close(s2);     // emptied by the first close
  Slot s3 = open(cl, a);  // most likely in the very entry s2 had
  cl.close(stale);  // a stale copy gives back nothing: s3's count stays
  EXPECT_EQ(cl.connections(a.get()), 1u);
  cl.close(s3);
  EXPECT_EQ(cl.connections(a.get()), 0u);
}

TEST(ClientLimits, NonIpSocketsAreNotLimited) {
  ClientLimits cl(limits(1, 1, 1), 1000);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  Slot slot;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(cl.try_open(reinterpret_cast<sockaddr*>(&un), 0, slot), Admit::ok);
  EXPECT_FALSE(slot.held());
  std::uint32_t retry = 0;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(cl.take_request(slot, 0, retry));
  EXPECT_EQ(cl.size(), 0u);
}

TEST(ClientLimits, BucketAllowsBurstThenRefillsAtTheRate) {
  ClientLimits cl(limits(0, 2, 3), 1000);
  Address a("10.0.0.1");
  Slot s = open(cl, a);
  std::uint32_t retry = 0;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(cl.take_request(s, 0, retry)) << i;
  EXPECT_FALSE(cl.take_request(s, 0, retry));
  EXPECT_EQ(retry, 1u);
  EXPECT_FALSE(cl.take_request(s, 499, retry));  // 0.998 of a token
  EXPECT_TRUE(cl.take_request(s, 500, retry));   // 2/s: one token per 500 ms
  EXPECT_FALSE(cl.take_request(s, 500, retry));
  EXPECT_TRUE(cl.take_request(s, 1000, retry));
  // A long pause fills the bucket to the burst, no more.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(cl.take_request(s, 60000, retry)) << i;
  EXPECT_FALSE(cl.take_request(s, 60000, retry));
  cl.close(s);
}

TEST(ClientLimits, BurstDefaultsToTheRateAndIsAtLeastOne) {
  ClientLimits five(limits(0, 5), 1000);
  Address a("10.0.0.1");
  Slot s = open(five, a);
  std::uint32_t retry = 0;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(five.take_request(s, 0, retry)) << i;
  EXPECT_FALSE(five.take_request(s, 0, retry));
  five.close(s);

  // 0.5/s with no burst would be a bucket of half a token: never one whole request.
  ClientLimits slow(limits(0, 0.5), 1000);
  s = open(slow, a);
  EXPECT_TRUE(slow.take_request(s, 0, retry));
  EXPECT_FALSE(slow.take_request(s, 0, retry));
  EXPECT_EQ(retry, 2u);
  EXPECT_TRUE(slow.take_request(s, 2000, retry));
  slow.close(s);
}

TEST(ClientLimits, RetryAfterIsWholeSecondsUntilOneToken) {
  ClientLimits cl(limits(0, 0.25, 1), 1000);
  Address a("10.0.0.1");
  Slot s = open(cl, a);
  std::uint32_t retry = 0;
  EXPECT_TRUE(cl.take_request(s, 0, retry));
  EXPECT_FALSE(cl.take_request(s, 0, retry));
  EXPECT_EQ(retry, 4u);
  EXPECT_FALSE(cl.take_request(s, 1000, retry));
  EXPECT_EQ(retry, 3u);
  EXPECT_FALSE(cl.take_request(s, 3990, retry));  // 10 ms to go: rounded up to 1
  EXPECT_EQ(retry, 1u);
  EXPECT_TRUE(cl.take_request(s, 4000, retry));
  cl.close(s);

  ClientLimits fast(limits(0, 1000, 1), 1000);
  s = open(fast, a);
  EXPECT_TRUE(fast.take_request(s, 0, retry));
  EXPECT_FALSE(fast.take_request(s, 0, retry));
  EXPECT_EQ(retry, 1u);  // 1 ms away, but Retry-After counts whole seconds
  fast.close(s);

  ClientLimits glacial(limits(0, 1e-12, 1), 1000);
  s = open(glacial, a);
  EXPECT_TRUE(glacial.take_request(s, 0, retry));
  EXPECT_FALSE(glacial.take_request(s, 0, retry));
  EXPECT_EQ(retry, UINT32_MAX);  // clamped, not overflowed
  glacial.close(s);
}

TEST(ClientLimits, ConnectionsOfOneAddressShareItsBucket) {
  ClientLimits cl(limits(0, 1, 2), 1000);
  Address a("10.0.0.1", 1), a2("::ffff:10.0.0.1", 2), b("10.0.0.2");
  Slot s1 = open(cl, a), s2 = open(cl, a2), sb = open(cl, b);
  std::uint32_t retry = 0;
  EXPECT_TRUE(cl.take_request(s1, 0, retry));
  EXPECT_TRUE(cl.take_request(s2, 0, retry));
  EXPECT_FALSE(cl.take_request(s1, 0, retry));
  EXPECT_FALSE(cl.take_request(s2, 0, retry));
  EXPECT_TRUE(cl.take_request(sb, 0, retry));  // another address has its own
  for (Slot* s : {&s1, &s2, &sb}) cl.close(*s);
}

TEST(ClientLimits, ReconnectingDoesNotRefillTheBucket) {
  ClientLimits cl(limits(0, 1, 2), 1000);
  Address a("10.0.0.1");
  Slot s = open(cl, a);
  std::uint32_t retry = 0;
  EXPECT_TRUE(cl.take_request(s, 0, retry));
  EXPECT_TRUE(cl.take_request(s, 0, retry));
  cl.close(s);
  EXPECT_EQ(cl.size(), 1u);  // still refilling: remembered
  s = open(cl, a, 100);
  EXPECT_FALSE(cl.take_request(s, 100, retry));
  cl.close(s);
  // Once the bucket is full again the client is forgotten at its next close.
  s = open(cl, a, 5000);
  EXPECT_TRUE(cl.take_request(s, 5000, retry));
  EXPECT_TRUE(cl.take_request(s, 5000, retry));
  EXPECT_FALSE(cl.take_request(s, 5000, retry));
  cl.close(s);
}

TEST(ClientLimits, ClockOfAnotherWorkerBehindNeitherRefillsNorRewinds) {
  ClientLimits cl(limits(0, 1, 1), 1000);
  Address a("10.0.0.1");
  Slot s = open(cl, a, 1000);
  std::uint32_t retry = 0;
  EXPECT_TRUE(cl.take_request(s, 1000, retry));
  EXPECT_FALSE(cl.take_request(s, 990, retry));  // a worker whose clock read is 10 ms older
  EXPECT_FALSE(cl.take_request(s, 1999, retry));
  EXPECT_TRUE(cl.take_request(s, 2000, retry));  // one second after the take, not after 990
  cl.close(s);
}

TEST(ClientLimits, FullTableOfOpenConnectionsRefusesOnlyNewcomers) {
  ClientLimits cl(limits(4), 16);  // one stripe of 16 entries
  ASSERT_EQ(cl.capacity(), 16u);
  std::vector<Slot> slots;
  for (std::uint32_t i = 0; i < 16; ++i) slots.push_back(open(cl, Address::nth(i)));
  Slot extra;
  EXPECT_EQ(cl.try_open(Address::nth(16).get(), 0, extra), Admit::table_full);
  EXPECT_FALSE(extra.held());
  Slot again = open(cl, Address::nth(3));  // a known client still gets its connections
  cl.close(slots[5]);
  extra = open(cl, Address::nth(16));
  cl.close(extra);
  cl.close(again);
  for (Slot& s : slots) cl.close(s);
  EXPECT_EQ(cl.size(), 0u);
}

TEST(ClientLimits, IdleClientsStillRefillingAreEvictedWhenFull) {
  ClientLimits cl(limits(0, 1, 10), 16);
  std::uint32_t retry = 0;
  for (std::uint32_t i = 0; i < 16; ++i) {
    Slot s = open(cl, Address::nth(i));
    EXPECT_TRUE(cl.take_request(s, 0, retry));
    cl.close(s);
  }
  EXPECT_EQ(cl.size(), 16u);
  // A pinned entry (open connection) is never the one evicted.
  Slot pinned = open(cl, Address::nth(0));
  for (std::uint32_t i = 16; i < 100; ++i) {
    Slot s = open(cl, Address::nth(i), 1);
    cl.close(s);
  }
  EXPECT_LE(cl.size(), 16u);
  EXPECT_EQ(cl.connections(Address::nth(0).get()), 1u);
  EXPECT_TRUE(cl.take_request(pinned, 1, retry));
  cl.close(pinned);
}

TEST(ClientLimits, MillionAddressesKeepMemoryBounded) {
  ClientLimits cl(limits(2, 10, 5), 4096);
  const std::size_t memory = cl.memory_bytes();
  EXPECT_GT(memory, 0u);
  EXPECT_LT(memory, 1u << 20);
  // A few clients stay connected throughout: their counts and buckets must survive the churn.
  std::vector<Slot> kept;
  std::vector<Address> kept_addresses;
  for (std::uint32_t i = 0; i < 8; ++i) {
    kept_addresses.push_back(Address("198.51.100.1"));
    reinterpret_cast<sockaddr_in*>(&kept_addresses.back().storage)->sin_addr.s_addr = htonl(0xc6336400u + i);
    kept.push_back(open(cl, kept_addresses.back()));
    kept.push_back(open(cl, kept_addresses.back()));
  }
  std::uint32_t retry = 0;
  std::size_t refused = 0;
  for (std::uint32_t n = 0; n < 1'000'000; ++n) {
    std::int64_t now = n / 4;  // many new addresses per millisecond: buckets do not refill in time
    Slot s;
    if (cl.try_open(Address::nth(n).get(), now, s) != Admit::ok) {
      ++refused;
      continue;
    }
    EXPECT_TRUE(cl.take_request(s, now, retry));
    cl.close(s);
    if (n % 65536 == 0) {
      EXPECT_LE(cl.size(), cl.capacity());
    }
  }
  EXPECT_EQ(refused, 0u);  // idle clients make room; none of them holds a connection
  EXPECT_LE(cl.size(), cl.capacity());
  EXPECT_EQ(cl.memory_bytes(), memory);
  for (const Address& a : kept_addresses) EXPECT_EQ(cl.connections(a.get()), 2u);
  Slot third;
  EXPECT_EQ(cl.try_open(kept_addresses[0].get(), 0, third), Admit::over_limit);
  for (Slot& s : kept) cl.close(s);
  for (const Address& a : kept_addresses) EXPECT_EQ(cl.connections(a.get()), 0u);
}

TEST(ClientLimits, ThreadsHammeringOverlappingAddressesKeepCountsConsistent) {
  constexpr std::uint32_t kPerClient = 3;
  constexpr std::size_t kAddresses = 24;
  ClientLimits cl(limits(kPerClient, 1000, 50), 4096);
  std::vector<Address> addresses;
  for (std::uint32_t i = 0; i < kAddresses; ++i) addresses.push_back(Address::nth(i));
  // Slots held right now per address, by all threads: incremented after try_open admits,
  // decremented before close, so it never exceeds what the table counts.
  std::array<std::atomic<int>, kAddresses> held{};
  std::atomic<std::int64_t> clock{0};
  std::atomic<bool> over{false};
  std::atomic<std::uint64_t> admitted{0}, refused{0}, requests{0};

  auto hammer = [&](unsigned seed) {
    std::mt19937 random(seed);
    std::vector<std::pair<std::size_t, Slot>> mine;
    std::uint64_t my_admitted = 0, my_refused = 0, my_requests = 0;
    for (int step = 0; step < 100'000; ++step) {
      std::int64_t now = clock.fetch_add(1, std::memory_order_relaxed) / 16;
      auto op = random() % 3;
      if (op == 0 && mine.size() < 8) {
        std::size_t a = random() % kAddresses;
        Slot s;
        Admit r = cl.try_open(addresses[a].get(), now, s);
        EXPECT_NE(r, Admit::table_full);
        if (r == Admit::ok) {
          if (held[a].fetch_add(1) + 1 > static_cast<int>(kPerClient)) over = true;
          mine.emplace_back(a, s);
          ++my_admitted;
        } else {
          ++my_refused;
        }
      } else if (op == 1 && !mine.empty()) {
        std::size_t k = random() % mine.size();
        held[mine[k].first].fetch_sub(1);
        cl.close(mine[k].second);
        mine[k] = mine.back();
        mine.pop_back();
      } else if (!mine.empty()) {
        std::uint32_t retry = 0;
        if (cl.take_request(mine[random() % mine.size()].second, now, retry)) ++my_requests;
      }
    }
    for (auto& [a, s] : mine) {
      held[a].fetch_sub(1);
      cl.close(s);
    }
    admitted += my_admitted;
    refused += my_refused;
    requests += my_requests;
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; ++t) threads.emplace_back(hammer, 1234 + t);
  for (std::thread& t : threads) t.join();

  EXPECT_FALSE(over) << "more than " << kPerClient << " connections admitted for one address";
  EXPECT_GT(admitted.load(), 1000u);
  EXPECT_GT(refused.load(), 0u);  // 4 threads * up to 8 slots over 24 addresses do hit the limit
  EXPECT_GT(requests.load(), 0u);
  for (std::size_t a = 0; a < kAddresses; ++a) {
    EXPECT_EQ(held[a].load(), 0);
    EXPECT_EQ(cl.connections(addresses[a].get()), 0u) << a;
  }
  // Every count went back to zero: each address has its full quota again.
  std::vector<Slot> slots;
  for (const Address& a : addresses) {
    for (std::uint32_t i = 0; i < kPerClient; ++i) slots.push_back(open(cl, a, 1'000'000));
    Slot s;
    EXPECT_EQ(cl.try_open(a.get(), 1'000'000, s), Admit::over_limit);
  }
  for (Slot& s : slots) cl.close(s);
  EXPECT_LE(cl.size(), kAddresses);
}

TEST(ClientLimits, SetLimitsChangesTheLimitsAndKeepsTheCounts) {
  ClientLimits cl(limits(1, 0, 0), 1000);
  Address a("10.0.0.1");
  Slot s1 = open(cl, a);
  Slot refused;
  EXPECT_EQ(cl.try_open(a.get(), 0, refused), ClientLimits::Admit::over_limit);
  cl.set_limits(limits(2, 0, 0));  // a reload raises the limit: the open connection still counts
  Slot s2 = open(cl, a);
  EXPECT_EQ(cl.connections(a.get()), 2u);
  EXPECT_EQ(cl.try_open(a.get(), 0, refused), ClientLimits::Admit::over_limit);
  cl.set_limits(limits(0, 1, 1));  // connections unlimited, one request a second
  Slot s3 = open(cl, a);
  std::uint32_t retry = 0;
  EXPECT_TRUE(cl.take_request(s3, 0, retry));
  EXPECT_FALSE(cl.take_request(s1, 0, retry));
  cl.set_limits(limits(0, 0, 0));  // everything off: nothing is refused, slots still go back
  EXPECT_TRUE(cl.take_request(s1, 0, retry));
  for (Slot* s : {&s1, &s2, &s3}) cl.close(*s);
  EXPECT_EQ(cl.size(), 0u);
}
