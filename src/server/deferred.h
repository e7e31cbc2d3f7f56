#pragma once
// Responses a back end gives later. A handler that must wait (for an upstream, a timer, work on
// another thread) takes a Deferred and returns at once; its worker goes on serving others. Later,
// from any thread, complete() hands a function to the worker that owns the connection, which
// fills the response with it and sends it. Nothing blocks, and a connection that closed
// meanwhile simply drops the completion.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <vector>

namespace nuri::net {
class Waker;
}

namespace nuri::server {

class Connection;
struct Response;

/// The worker-side record of one deferred response. Only the worker thread touches it.
struct DeferredTarget {
  explicit DeferredTarget(Connection* c) : connection(c) {}
  Connection* connection = nullptr;  ///< null once answered, timed out, or the connection closed
  /// Whether writing more makes sense: cleared by the worker when the response is done or the
  /// connection closed; read by producers on any thread.
  std::atomic<bool> open{true};
};

/// Completions on their way to a worker: pushed from any thread, taken by the worker.
class CompletionQueue {
 public:
  using Fill = std::function<void(Response&)>;
  enum class Kind : std::uint8_t { fill, chunk, end };
  struct Item {
    std::shared_ptr<DeferredTarget> target;
    Fill fill;                ///< Kind::fill
    std::int64_t due_ms = 0;  ///< monotonic; 0: now
    Kind kind = Kind::fill;
    std::string chunk;        ///< Kind::chunk: the next bytes of a streamed body
  };

  explicit CompletionQueue(net::Waker& waker) : waker_(&waker) {}

  /// From any thread. After close() (the worker stopped) the item is dropped.
  void push(Item item);
  /// The worker, once per loop turn: what arrived, in order.
  std::vector<Item> take();
  /// The worker, before it goes away.
  void close();

 private:
  std::mutex mutex_;
  std::vector<Item> items_;
  net::Waker* waker_;  // null once closed
};

/// What a handler holds: a thread-safe way back to its connection. Copies share the answer:
/// the first complete() wins, later ones are ignored.
class Deferred {
 public:
  Deferred(std::shared_ptr<CompletionQueue> queue, std::shared_ptr<DeferredTarget> target)
      : queue_(std::move(queue)), target_(std::move(target)) {}

  /// `fill` runs on the worker (after `delay_ms`, without blocking anything meanwhile), then
  /// the response is sent. From any thread.
  void complete(CompletionQueue::Fill fill, std::int64_t delay_ms = 0) const;

  /// For a response whose fill set `stream`: the next bytes of its body, then its end. In the
  /// order called (from one thread, or ordered by the caller). write() is false once the
  /// response is over or the client gone: stop producing.
  bool write(std::string bytes) const;
  void end() const;

 private:
  std::shared_ptr<CompletionQueue> queue_;
  std::shared_ptr<DeferredTarget> target_;
};

/// The worker's completions that wait for their time, earliest first.
class DelayedCompletions {
 public:
  void add(CompletionQueue::Item item) { heap_.push(std::move(item)); }
  bool empty() const { return heap_.empty(); }
  std::int64_t next_due_ms() const { return heap_.top().due_ms; }
  CompletionQueue::Item pop() {
    CompletionQueue::Item item = heap_.top();
    heap_.pop();
    return item;
  }

 private:
  struct Later {
    bool operator()(const CompletionQueue::Item& a, const CompletionQueue::Item& b) const { return a.due_ms > b.due_ms; }
  };
  std::priority_queue<CompletionQueue::Item, std::vector<CompletionQueue::Item>, Later> heap_;
};

}  // namespace nuri::server
