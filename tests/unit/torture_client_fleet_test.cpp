// The torture driver's client fleet, without servers: each slot's history file exists from the
// moment its process is started, so a client killed before it ran leaves an empty history.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "client_fleet.hpp"
#include "history.hpp"

namespace redlock::torture {
namespace {

TEST(TortureClientFleet, AClientKilledBeforeItRanLeavesAnEmptyHistoryNotAMissingOne) {
  std::string dir = ::testing::TempDir() + "torture_fleet_XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  {
    // A binary that cannot run: no client ever opens its history itself.
    client_fleet clients(dir + "/no-such-binary", dir, {}, {"unused", "unused"}, 1);
    clients.start(2);
    clients.kill_and_replace(0);  // c1 replaced at once by c1.1, as the fault runner may do
    clients.stop_all(std::chrono::milliseconds(1000));
    ASSERT_EQ(clients.histories().size(), 3u);
    for (const std::string& path : clients.histories()) {
      auto h = read_history(path);
      ASSERT_TRUE(h) << h.error();
      EXPECT_TRUE(h->records.empty()) << path;
      ::unlink(path.c_str());
    }
  }
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace redlock::torture
