#include "redlock/error.hpp"

#include <stdexcept>
#include <system_error>

#include "redlock/result.hpp"

namespace redlock {
namespace {

// A failed result holds a non-empty error code, so no errc may be 0.
#define REDLOCK_ERRC_NONZERO(name, value, retryable, message) \
  static_assert(value != 0, "errc::" #name " must not be 0");
REDLOCK_ERRC_TABLE(REDLOCK_ERRC_NONZERO)
#undef REDLOCK_ERRC_NONZERO

class redlock_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "redlock"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
#define REDLOCK_ERRC_MESSAGE(name, value, retryable, message) \
  case errc::name:                                            \
    return message;
      REDLOCK_ERRC_TABLE(REDLOCK_ERRC_MESSAGE)
#undef REDLOCK_ERRC_MESSAGE
    }
    return "unknown redlock error " + std::to_string(value);
  }
};

}  // namespace

bool is_retryable(std::error_code error) noexcept {
  if (!error || error.category() != category()) return false;
  switch (static_cast<errc>(error.value())) {
#define REDLOCK_ERRC_RETRYABLE(name, value, retryable, message) \
  case errc::name:                                              \
    return retryable;
    REDLOCK_ERRC_TABLE(REDLOCK_ERRC_RETRYABLE)
#undef REDLOCK_ERRC_RETRYABLE
  }
  return false;
}

const char* to_string(errc code) noexcept {
  switch (code) {
#define REDLOCK_ERRC_NAME(name, value, retryable, message) \
  case errc::name:                                         \
    return #name;
    REDLOCK_ERRC_TABLE(REDLOCK_ERRC_NAME)
#undef REDLOCK_ERRC_NAME
  }
  return "unknown";
}

const std::error_category& category() noexcept {
  static const redlock_category instance;
  return instance;
}

void result_base::throw_not_a_failure() {
  throw std::logic_error(
      "redlock: a result was built from the status of a success, which has no value");
}

void result_base::throw_bad_access(std::error_code error, const std::string& message) {
  throw std::system_error(error, message.empty() ? "redlock result holds an error" : message);
}

}  // namespace redlock
