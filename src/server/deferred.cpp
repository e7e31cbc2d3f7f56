#include "server/deferred.h"

#include "base/clock.h"
#include "net/waker.h"

namespace nuri::server {

void CompletionQueue::push(Item item) {
  std::lock_guard lock(mutex_);
  if (!waker_) return;
  items_.push_back(std::move(item));
  // One wake-up per batch: the worker takes everything that is queued when it wakes.
  if (items_.size() == 1) waker_->wake();
}

std::vector<CompletionQueue::Item> CompletionQueue::take() {
  std::vector<Item> out;
  std::lock_guard lock(mutex_);
  out.swap(items_);
  return out;
}

void CompletionQueue::close() {
  std::lock_guard lock(mutex_);
  waker_ = nullptr;
  items_.clear();
}

void Deferred::complete(CompletionQueue::Fill fill, std::int64_t delay_ms) const {
  std::int64_t due = delay_ms > 0 ? base::monotonic_ms() + delay_ms : 0;
  queue_->push({target_, std::move(fill), due, CompletionQueue::Kind::fill, {}});
}

bool Deferred::write(std::string bytes) const {
  if (!target_->open.load(std::memory_order_relaxed)) return false;
  queue_->push({target_, {}, 0, CompletionQueue::Kind::chunk, std::move(bytes)});
  return true;
}

void Deferred::end() const { queue_->push({target_, {}, 0, CompletionQueue::Kind::end, {}}); }

}  // namespace nuri::server
