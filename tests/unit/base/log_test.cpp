#include "base/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "../support/no_free_descriptor.h"

namespace nuri::base {
namespace {

TEST(LogThrottle, FirstEventThenAtMostOneLineASecondWithTheCountSinceTheLast) {
  LogThrottle t;
  EXPECT_EQ(t.add(10'000), 1u);  // the first event has its line at once
  EXPECT_EQ(t.add(10'100), 0u);
  EXPECT_EQ(t.add(10'999), 0u);
  EXPECT_EQ(t.add(11'000), 3u);  // a second later: the two held back and this one
  EXPECT_EQ(t.add(11'500), 0u);
  EXPECT_EQ(t.add(20'000), 2u);
}

TEST(LogThrottle, DueGivesTheEndOfABurstOnceItsLineIsDue) {
  LogThrottle t;
  EXPECT_EQ(t.due(5'000), 0u);  // nothing happened
  EXPECT_EQ(t.add(10'000), 1u);
  EXPECT_EQ(t.due(10'500), 0u);  // nothing held back yet
  EXPECT_EQ(t.add(10'100), 0u);
  EXPECT_EQ(t.add(10'200), 0u);
  EXPECT_EQ(t.due(10'999), 0u);  // held back: not a second since the last line
  EXPECT_EQ(t.due(11'000), 2u);  // no new event came to carry them: their line now
  EXPECT_EQ(t.due(15'000), 0u);  // and only once
  EXPECT_EQ(t.add(11'500), 0u);  // within a second of the line due() gave
  EXPECT_EQ(t.add(12'000), 2u);
}

// Stands for any class with a vtable, called where no descriptor is left. Defined here alone so
// that no earlier call in this process has put its type in UBSan's cache of checked types.
struct Event {
  virtual ~Event() = default;
  virtual int code() const { return 1; }
};
struct Refusal : Event {
  int code() const override { return 503; }
};

// The servers log while out of descriptors ("out of file descriptors: refused ..."), and the
// sanitizer build must survive it: UBSan's vptr check needs a pipe to test a vtable and, with
// none to be had, reports a sound object as broken (CMakeLists.txt leaves that check out).
TEST(Log, WritesALineWhenNoDescriptorIsLeft) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK), 0);
  int saved_stderr = ::dup(STDERR_FILENO);
  ASSERT_GE(saved_stderr, 0);
  ASSERT_EQ(::dup2(pipe_fds[1], STDERR_FILENO), STDERR_FILENO);

  {
    test::NoFreeDescriptor none;
    ASSERT_TRUE(none.lowered());
    Refusal refusal;
    const Event* event = &refusal;
    int code = static_cast<const Refusal*>(event)->code();
    log_error("out of file descriptors: refused {} connection(s) with {}", 7, code);
    EXPECT_TRUE(none.full()) << "the limit did not bite";
  }
  ::dup2(saved_stderr, STDERR_FILENO);
  ::close(saved_stderr);

  char buffer[256] = {};
  ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer - 1);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  ASSERT_GT(n, 0);
  std::string line(buffer, static_cast<std::size_t>(n));
  EXPECT_NE(line.find("Z nuri[error]: out of file descriptors: refused 7 connection(s) with 503\n"),
            std::string::npos)
      << line;
}

}  // namespace
}  // namespace nuri::base
