#include "token.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <set>

namespace redlock::detail {
namespace {

TEST(Token, Is32LowercaseHexDigits) {
  std::string t = random_token();
  ASSERT_EQ(t.size(), 32u);
  for (char c : t)
    EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << t;
}

TEST(Token, NeverRepeatsAndUsesEveryDigit) {
  std::set<std::string> seen;
  std::set<char> digits;
  for (int i = 0; i < 10000; ++i) {
    std::string t = random_token();
    EXPECT_TRUE(seen.insert(t).second) << "repeated token " << t;
    digits.insert(t.begin(), t.end());
  }
  EXPECT_EQ(digits.size(), 16u);
}

// Each of the 128 bits is set in about half of the tokens: no stuck bits.
TEST(Token, EveryBitVaries) {
  int ones[128] = {};
  const int samples = 4000;
  for (int i = 0; i < samples; ++i) {
    std::string t = random_token();
    for (int d = 0; d < 32; ++d) {
      int v = t[static_cast<std::size_t>(d)] <= '9' ? t[static_cast<std::size_t>(d)] - '0'
                                                    : t[static_cast<std::size_t>(d)] - 'a' + 10;
      for (int b = 0; b < 4; ++b)
        ones[d * 4 + b] += (v >> b) & 1;
    }
  }
  for (int bit = 0; bit < 128; ++bit) {
    EXPECT_GT(ones[bit], samples * 4 / 10) << "bit " << bit;
    EXPECT_LT(ones[bit], samples * 6 / 10) << "bit " << bit;
  }
}

TEST(Token, SeedsDiffer) {
  EXPECT_NE(random_seed(), random_seed());
}

}  // namespace
}  // namespace redlock::detail

namespace redlock::detail {
namespace {

// A forked child must not hand out the tokens its parent still has buffered.
TEST(Token, ForkedChildDoesNotRepeatTheParentsTokens) {
  (void)random_token();  // the parent's buffer now holds more tokens
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::string t = random_token();
    ssize_t n = write(pipe_fds[1], t.data(), t.size());
    _exit(n == 32 ? 0 : 1);
  }
  std::string from_child(32, '\0');
  ASSERT_EQ(read(pipe_fds[0], from_child.data(), 32), 32);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(status, 0);
  EXPECT_NE(random_token(), from_child);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

}  // namespace
}  // namespace redlock::detail
