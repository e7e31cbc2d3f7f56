#pragma once
// Timeouts of one kind all have the same length, so a list in deadline order is enough:
// append at the tail, expire from the head, unlink from anywhere. O(1), no heap. After a reload
// shortens the length, new deadlines can be earlier than the tail's: those walk back from the
// tail to their place, which costs only until the older, longer deadlines have run out.
#include <cstdint>

namespace nuri::server {

class TimerList;

/// Embedded in whatever can time out; belongs to at most one list.
struct TimerNode {
  TimerNode* prev = nullptr;
  TimerNode* next = nullptr;
  TimerList* list = nullptr;
  std::int64_t deadline_ms = 0;
  void* owner = nullptr;  ///< what the node is embedded in
};

class TimerList {
 public:
  explicit TimerList(std::int64_t duration_ms = 0) : duration_ms_(duration_ms) {}

  void set_duration(std::int64_t ms) { duration_ms_ = ms; }
  std::int64_t duration() const { return duration_ms_; }

  /// Puts `node` at the tail with deadline now + duration (taking it off any list first).
  void schedule(TimerNode& node, std::int64_t now_ms) { schedule_at(node, now_ms + duration_ms_); }

  /// The same with a deadline of the caller's choosing, for a list whose timeouts differ (the
  /// proxy's, which each location sets): the walk back from the tail stays short while few
  /// lengths are in use.
  void schedule_at(TimerNode& node, std::int64_t deadline_ms) {
    unlink(node);
    node.deadline_ms = deadline_ms;
    node.list = this;
    TimerNode* after = tail_;
    while (after && after->deadline_ms > node.deadline_ms) after = after->prev;
    node.prev = after;
    node.next = after ? after->next : head_;
    if (node.next) node.next->prev = &node; else tail_ = &node;
    if (after) after->next = &node; else head_ = &node;
  }

  /// Takes `node` off whichever list holds it.
  static void unlink(TimerNode& node) {
    TimerList* l = node.list;
    if (!l) return;
    if (node.prev) node.prev->next = node.next; else l->head_ = node.next;
    if (node.next) node.next->prev = node.prev; else l->tail_ = node.prev;
    node.prev = node.next = nullptr;
    node.list = nullptr;
  }

  /// The earliest node if it expired by `now_ms`, else null.
  TimerNode* expired(std::int64_t now_ms) const {
    return head_ && head_->deadline_ms <= now_ms ? head_ : nullptr;
  }

  /// The earliest deadline, or -1 when empty.
  std::int64_t next_deadline() const { return head_ ? head_->deadline_ms : -1; }

 private:
  TimerNode* head_ = nullptr;
  TimerNode* tail_ = nullptr;
  std::int64_t duration_ms_;
};

}  // namespace nuri::server
