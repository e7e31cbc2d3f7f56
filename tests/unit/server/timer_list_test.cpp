#include "server/timer_list.h"

#include <gtest/gtest.h>

#include <vector>

using nuri::server::TimerList;
using nuri::server::TimerNode;

TEST(TimerList, ExpiresInDeadlineOrder) {
  TimerList list(100);
  TimerNode a, b, c;
  list.schedule(a, 0);
  list.schedule(b, 10);
  list.schedule(c, 20);
  EXPECT_EQ(list.next_deadline(), 100);
  EXPECT_EQ(list.expired(99), nullptr);
  EXPECT_EQ(list.expired(100), &a);
  TimerList::unlink(a);
  EXPECT_EQ(list.expired(200), &b);
}

TEST(TimerList, RescheduleMovesToTheTail) {
  TimerList list(100);
  TimerNode a, b;
  list.schedule(a, 0);
  list.schedule(b, 10);
  list.schedule(a, 50);  // refreshed: now after b
  EXPECT_EQ(list.expired(1000), &b);
  EXPECT_EQ(a.deadline_ms, 150);
}

TEST(TimerList, NodeMovesBetweenLists) {
  TimerList header(10), idle(60);
  TimerNode a;
  header.schedule(a, 0);
  idle.schedule(a, 0);
  EXPECT_EQ(a.list, &idle);
  EXPECT_EQ(header.next_deadline(), -1);
  EXPECT_EQ(idle.next_deadline(), 60);
  TimerList::unlink(a);
  EXPECT_EQ(idle.next_deadline(), -1);
  TimerList::unlink(a);  // unlinking twice is harmless
  EXPECT_EQ(a.list, nullptr);
}

TEST(TimerList, UnlinkFromTheMiddleKeepsTheRest) {
  TimerList list(1);
  TimerNode n[5];
  for (int i = 0; i < 5; ++i) list.schedule(n[i], i);
  TimerList::unlink(n[2]);
  TimerList::unlink(n[0]);
  TimerList::unlink(n[4]);
  EXPECT_EQ(list.expired(100), &n[1]);
  TimerList::unlink(n[1]);
  EXPECT_EQ(list.expired(100), &n[3]);
  TimerList::unlink(n[3]);
  EXPECT_EQ(list.expired(100), nullptr);
}

TEST(TimerList, ShorterDurationAfterReloadKeepsDeadlineOrder) {
  TimerList list(100);
  TimerNode old1, old2, fresh1, fresh2;
  list.schedule(old1, 0);   // 100
  list.schedule(old2, 10);  // 110
  list.set_duration(20);    // a reload shortened the timeout
  list.schedule(fresh1, 30);  // 50: before both old ones
  list.schedule(fresh2, 95);  // 115: after both
  std::vector<TimerNode*> order;
  while (TimerNode* n = list.expired(1000)) {
    order.push_back(n);
    TimerList::unlink(*n);
  }
  EXPECT_EQ(order, (std::vector<TimerNode*>{&fresh1, &old1, &old2, &fresh2}));
}
