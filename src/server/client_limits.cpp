#include "server/client_limits.h"

#include <netinet/in.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <vector>

namespace nuri::server {

namespace {

constexpr std::uint32_t kEmpty = UINT32_MAX;  // a free index cell; also "not found"
constexpr std::size_t kMaxStripes = 64;       // the top 6 bits of the hash pick the stripe
constexpr unsigned kStripeShift = 58;
constexpr std::size_t kMinPerStripe = 16;     // fewer stripes than that for a tiny table
constexpr std::size_t kMaxCapacity = std::size_t{1} << 26;  // entry numbers fit 32 bits

// 64x64 -> 128-bit multiply folded to 64 bits (wyhash's mixer).
std::uint64_t mum(std::uint64_t a, std::uint64_t b) {
  unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}

}  // namespace

struct ClientLimits::Entry {
  Key key;
  std::uint64_t hash = 0;
  double tokens = 0;              // in the bucket as of refilled_ms
  std::int64_t refilled_ms = 0;
  std::uint32_t connections = 0;
  std::uint32_t generation = 0;   // bumped at each reuse: tells a stale slot from a live one
  bool live = false;
};

// Cache-line aligned so that two stripes' mutexes never share a line.
struct alignas(64) ClientLimits::Stripe {
  mutable std::mutex mutex;
  std::vector<Entry> entries;        // the pool; a held slot points here, so it never moves
  std::vector<std::uint32_t> free;   // pool entries not in use
  std::vector<std::uint32_t> index;  // linear probing over entry numbers, at most half full
  std::size_t mask = 0;
  std::size_t live = 0;
};

std::size_t ClientLimits::capacity_for(const config::Limits& limits, std::size_t workers) {
  if (limits.max_connections_per_client == 0 && limits.requests_per_second <= 0) return 0;
  // Open connections pin their entries, and there can be workers * max_connections of them:
  // twice that leaves every stripe room to spare, so "table full" needs more connections than
  // the server takes. At least 64 Ki entries (about 3.5 MiB) for the rate limit's memory of
  // clients that just left.
  std::size_t connections = std::max<std::size_t>(workers, 1) * limits.max_connections;
  return std::clamp<std::size_t>(2 * connections, std::size_t{1} << 16, kMaxCapacity);
}

ClientLimits::ClientLimits(const config::Limits& limits, std::size_t capacity)
    : enabled_(limits.max_connections_per_client > 0 || limits.requests_per_second > 0) {
  set_limits(limits);
  if (!enabled_) return;
  capacity = std::clamp<std::size_t>(capacity, 1, kMaxCapacity);
  stripes_count_ = 1;
  while (stripes_count_ < kMaxStripes && capacity / (stripes_count_ * 2) >= kMinPerStripe) stripes_count_ *= 2;
  stripe_mask_ = stripes_count_ - 1;
  per_stripe_ = (capacity + stripes_count_ - 1) / stripes_count_;
  std::size_t index_size = 1;
  while (index_size < 2 * per_stripe_) index_size *= 2;

  // A keyed hash: a client cannot choose addresses that pile into one stripe or probe chain.
  std::random_device random;
  for (std::uint64_t& s : seed_) s = (std::uint64_t{random()} << 32 | random()) | 1;

  stripes_ = std::make_unique<Stripe[]>(stripes_count_);
  for (std::size_t i = 0; i < stripes_count_; ++i) {
    Stripe& s = stripes_[i];
    s.entries.resize(per_stripe_);
    s.free.reserve(per_stripe_);
    for (std::size_t e = per_stripe_; e-- > 0;) s.free.push_back(static_cast<std::uint32_t>(e));
    s.index.assign(index_size, kEmpty);
    s.mask = index_size - 1;
  }
}

ClientLimits::~ClientLimits() = default;

bool ClientLimits::make_key(const sockaddr* peer, Key& key) const {
  // Keyed by the 16 bytes of an IPv6 address; IPv4 as its mapped form ::ffff:a.b.c.d, so that a
  // dual-stack listener's v4-mapped clients and a v4 listener's clients are the same client.
  unsigned char bytes[16] = {};
  if (peer->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(peer);
    bytes[10] = bytes[11] = 0xff;
    std::memcpy(bytes + 12, &in->sin_addr, 4);
  } else if (peer->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(peer);
    std::memcpy(bytes, &in6->sin6_addr, 16);
  } else {
    return false;
  }
  std::memcpy(&key.hi, bytes, 8);
  std::memcpy(&key.lo, bytes + 8, 8);
  return true;
}

std::uint64_t ClientLimits::hash(const Key& key) const {
  std::uint64_t h = mum(key.hi ^ seed_[0], key.lo ^ seed_[1]);
  return mum(h ^ 0xa0761d6478bd642fULL, seed_[1] ^ 0xe7037ed1a0b428dbULL);
}

ClientLimits::Stripe& ClientLimits::stripe_of(std::uint64_t h) const {
  return stripes_[(h >> kStripeShift) & stripe_mask_];
}

double ClientLimits::refilled(const Entry& e, std::int64_t now_ms) const {
  // Workers read the clock once per loop turn, so `now_ms` from another worker may be a little
  // behind refilled_ms: then nothing is added (and refilled_ms never goes back).
  if (now_ms <= e.refilled_ms) return e.tokens;
  // Multiply before dividing: 500 ms at 2/s is exactly one token.
  return std::min(burst(), e.tokens + static_cast<double>(now_ms - e.refilled_ms) * rate() / 1000.0);
}

bool ClientLimits::reclaimable(const Entry& e, std::int64_t now_ms) const {
  // No connection and a full bucket: forgetting the client changes nothing it would notice.
  return e.connections == 0 && (!rate_enabled() || refilled(e, now_ms) >= burst());
}

std::uint32_t ClientLimits::find(const Stripe& s, const Key& key, std::uint64_t h) const {
  for (std::size_t pos = h & s.mask;; pos = (pos + 1) & s.mask) {
    std::uint32_t i = s.index[pos];
    if (i == kEmpty) return kEmpty;
    const Entry& e = s.entries[i];
    if (e.hash == h && e.key == key) return i;
  }
}

std::uint32_t ClientLimits::insert(Stripe& s, const Key& key, std::uint64_t h, std::int64_t now_ms) {
  if (s.free.empty() && !make_room(s, now_ms)) return kEmpty;
  std::uint32_t i = s.free.back();
  s.free.pop_back();
  Entry& e = s.entries[i];
  e.key = key;
  e.hash = h;
  e.tokens = burst();
  e.refilled_ms = now_ms;
  e.connections = 0;
  ++e.generation;
  e.live = true;
  std::size_t pos = h & s.mask;
  while (s.index[pos] != kEmpty) pos = (pos + 1) & s.mask;
  s.index[pos] = i;
  ++s.live;
  return i;
}

void ClientLimits::remove(Stripe& s, std::uint32_t i) {
  Entry& e = s.entries[i];
  std::size_t hole = e.hash & s.mask;
  while (s.index[hole] != i) hole = (hole + 1) & s.mask;
  // Backward-shift deletion: no tombstones, so probe chains stay as short as the load allows.
  // Only index cells move; entries (and the slots pointing at them) stay where they are.
  for (std::size_t j = (hole + 1) & s.mask;; j = (j + 1) & s.mask) {
    std::uint32_t k = s.index[j];
    if (k == kEmpty) break;
    std::size_t home = s.entries[k].hash & s.mask;
    // k may fill the hole if the hole lies on its probe path, from home to j.
    if (((j - home) & s.mask) >= ((j - hole) & s.mask)) {
      s.index[hole] = k;
      hole = j;
    }
  }
  s.index[hole] = kEmpty;
  e.live = false;
  s.free.push_back(i);
  --s.live;
}

bool ClientLimits::make_room(Stripe& s, std::int64_t now_ms) {
  // The pool is empty: one pass reclaims every idle entry whose bucket refilled (the cost is
  // paid once for all the entries it frees).
  std::uint32_t candidate = kEmpty;
  double most_tokens = -1;
  for (std::uint32_t i = 0; i < s.entries.size(); ++i) {
    const Entry& e = s.entries[i];
    if (!e.live || e.connections != 0) continue;
    if (reclaimable(e, now_ms)) {
      remove(s, i);
      continue;
    }
    double t = refilled(e, now_ms);
    if (t > most_tokens) {
      most_tokens = t;
      candidate = i;
    }
  }
  if (!s.free.empty()) return true;
  // Every entry is an idle client whose bucket is still refilling, or holds connections (many
  // addresses each asked recently: an attack from a large IPv6 prefix, say). Forget the idle
  // client closest to a full bucket: at worst it gets that bucket back a little early. An entry
  // holding connections is never dropped, or its connections could not give their count back.
  if (candidate != kEmpty) {
    remove(s, candidate);
    return true;
  }
  return false;
}

void ClientLimits::set_limits(const config::Limits& limits) {
  max_connections_.store(limits.max_connections_per_client, std::memory_order_relaxed);
  rate_.store(limits.requests_per_second, std::memory_order_relaxed);
  // A bucket smaller than one token would refuse every request forever.
  burst_.store(std::max(1.0, limits.burst > 0 ? limits.burst : limits.requests_per_second), std::memory_order_relaxed);
  rate_enabled_.store(limits.requests_per_second > 0, std::memory_order_relaxed);
}

ClientLimits::Admit ClientLimits::try_open(const sockaddr* peer, std::int64_t now_ms, Slot& slot) {
  slot = Slot{};
  Key key;
  if (!enabled_ || !make_key(peer, key)) return Admit::ok;
  std::uint64_t h = hash(key);
  std::uint32_t stripe = static_cast<std::uint32_t>((h >> kStripeShift) & stripe_mask_);
  Stripe& s = stripes_[stripe];
  std::lock_guard lock(s.mutex);
  std::uint32_t i = find(s, key, h);
  if (i == kEmpty) {
    i = insert(s, key, h, now_ms);
    // Every entry of this stripe holds open connections. Admitting the client unlimited would
    // let whoever fills the table (many addresses, each with a connection open) switch the
    // configured limits off for every newcomer, themselves included: fail closed instead, with
    // 503 as for the per-worker connection limit. capacity_for() sizes the table so that this
    // takes more open connections than the workers accept at all.
    if (i == kEmpty) return Admit::table_full;
  }
  Entry& e = s.entries[i];
  if (std::uint32_t most = max_connections(); most != 0 && e.connections >= most) return Admit::over_limit;
  ++e.connections;
  slot.stripe = stripe;
  slot.entry = i;
  slot.generation = e.generation;
  return Admit::ok;
}

void ClientLimits::release(Slot& slot) {
  Stripe& s = stripes_[slot.stripe];
  std::uint32_t i = slot.entry;
  std::uint32_t generation = slot.generation;
  slot = Slot{};
  std::lock_guard lock(s.mutex);
  Entry& e = s.entries[i];
  if (!e.live || e.generation != generation || e.connections == 0) return;  // stale: holds nothing
  --e.connections;
  // Tokens only grow between requests: full at the last refill is full now. Such an entry is
  // forgotten at once; one still refilling waits for make_room.
  if (e.connections == 0 && (!rate_enabled() || e.tokens >= burst())) remove(s, i);
}

bool ClientLimits::take(const Slot& slot, std::int64_t now_ms, std::uint32_t& retry_after_seconds) {
  Stripe& s = stripes_[slot.stripe];
  std::lock_guard lock(s.mutex);
  Entry& e = s.entries[slot.entry];
  if (!e.live || e.generation != slot.generation) return true;  // stale: limits nothing
  e.tokens = refilled(e, now_ms);
  e.refilled_ms = std::max(e.refilled_ms, now_ms);
  if (e.tokens >= 1) {
    e.tokens -= 1;
    return true;
  }
  // A refused request takes nothing: a client that waits Retry-After gets its token.
  double rate = this->rate();
  if (rate <= 0) return true;  // a reload switched the rate limit off meanwhile
  double wait = std::ceil((1 - e.tokens) / rate);
  retry_after_seconds = wait >= 4294967295.0 ? UINT32_MAX : std::max<std::uint32_t>(1, static_cast<std::uint32_t>(wait));
  return false;
}

std::uint32_t ClientLimits::connections(const sockaddr* peer) const {
  Key key;
  if (!enabled_ || !make_key(peer, key)) return 0;
  std::uint64_t h = hash(key);
  const Stripe& s = stripe_of(h);
  std::lock_guard lock(s.mutex);
  std::uint32_t i = find(s, key, h);
  return i == kEmpty ? 0 : s.entries[i].connections;
}

std::size_t ClientLimits::size() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < stripes_count_; ++i) {
    std::lock_guard lock(stripes_[i].mutex);
    n += stripes_[i].live;
  }
  return n;
}

std::size_t ClientLimits::memory_bytes() const {
  std::size_t n = stripes_count_ * sizeof(Stripe);
  for (std::size_t i = 0; i < stripes_count_; ++i) {
    const Stripe& s = stripes_[i];
    std::lock_guard lock(s.mutex);
    n += s.entries.capacity() * sizeof(Entry) + (s.free.capacity() + s.index.capacity()) * sizeof(std::uint32_t);
  }
  return n;
}

}  // namespace nuri::server
