#include "orchard/pipeline/bounded_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "orchard/pipeline/task_group.h"

namespace orchard {
namespace {

TEST(BoundedQueueTest, ProducerWaitsWhileFull) {
  BoundedQueue<int> queue(2);
  std::atomic<int> pushed{0};
  std::thread producer([&] {
    for (int i = 0; i < 5; ++i) {
      queue.Push(i);
      ++pushed;
    }
    queue.Close();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(pushed.load(), 2);  // capacity reached: the third Push blocks
  int expected = 0;
  while (auto value = queue.Pop()) EXPECT_EQ(*value, expected++);
  EXPECT_EQ(expected, 5);
  producer.join();
}

TEST(BoundedQueueTest, CloseDrainsThenEnds) {
  BoundedQueue<int> queue(4);
  queue.Push(1);
  queue.Close();
  EXPECT_FALSE(queue.Push(2));
  EXPECT_EQ(queue.Pop(), 1);
  EXPECT_EQ(queue.Pop(), std::nullopt);
  EXPECT_EQ(queue.TryPop(), std::nullopt);
}

TEST(BoundedQueueTest, TryPushAndTryPopNeverWait) {
  BoundedQueue<int> queue(1);
  EXPECT_EQ(queue.TryPop(), std::nullopt);
  EXPECT_TRUE(queue.TryPush(1));
  EXPECT_FALSE(queue.TryPush(2));  // full: dropped
  EXPECT_EQ(queue.TryPop(), 1);
  EXPECT_EQ(queue.TryPop(), std::nullopt);
}

TEST(TaskGroupTest, FirstFailureStopsOthersAndIsRethrown) {
  BoundedQueue<int> queue(1);
  TaskGroup tasks([&] { queue.Close(); });
  tasks.Spawn([&] {
    while (queue.Pop()) {
    }
  });  // would wait forever without the failure handler
  tasks.Spawn([] { throw std::runtime_error("stage failed"); });
  EXPECT_THROW(
      {
        try {
          tasks.Wait();
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "stage failed");
          throw;
        }
      },
      std::runtime_error);
}

}  // namespace
}  // namespace orchard
