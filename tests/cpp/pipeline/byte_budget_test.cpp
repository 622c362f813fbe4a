#include "orchard/pipeline/byte_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace orchard {
namespace {

// The read stage used to hold up to ~48 files of any size at once; the budget bounds the bytes instead.
TEST(ByteBudgetTest, BytesHeldAtOnceNeverExceedTheCapacity) {
  constexpr std::int64_t kCapacity = 1000;
  ByteBudget budget(kCapacity);
  std::atomic<std::int64_t> held{0};
  std::atomic<std::int64_t> peak{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::int64_t bytes = 1 + (t * 131 + i * 37) % 700;
        const auto lease = budget.Take(bytes);
        const auto now = held += bytes;
        for (auto seen = peak.load(); now > seen && !peak.compare_exchange_weak(seen, now);) {
        }
        held -= bytes;  // before the lease gives the bytes back
      }
    });
  }
  for (auto& reader : readers) reader.join();
  EXPECT_LE(peak.load(), kCapacity);
}

TEST(ByteBudgetTest, MoreThanTheCapacityIsLetThroughAloneSoNothingDeadlocks) {
  ByteBudget budget(10);
  const auto lease = budget.Take(25);
  SUCCEED();
}

TEST(ByteBudgetTest, CloseWakesAWaitingTaker) {
  ByteBudget budget(10);
  auto held = budget.Take(8);
  std::thread waiter([&] { budget.Take(5); });  // cannot fit until `held` is given back
  budget.Close();
  waiter.join();  // would hang if Close did not wake it
  SUCCEED();
}

}  // namespace
}  // namespace orchard
