#include "test_knobs.hpp"

namespace redlock::detail::test_knobs {

std::atomic<std::size_t> quorum{0};
std::atomic<bool> seed_blindly{false};

}  // namespace redlock::detail::test_knobs
