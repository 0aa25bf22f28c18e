#include "redlock/error.hpp"

#include <system_error>

#include "redlock/result.hpp"

namespace redlock {
namespace {

class redlock_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "redlock"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
#define REDLOCK_ERRC_MESSAGE(name, value, message) \
  case errc::name:                                 \
    return message;
      REDLOCK_ERRC_TABLE(REDLOCK_ERRC_MESSAGE)
#undef REDLOCK_ERRC_MESSAGE
    }
    return "unknown redlock error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const redlock_category instance;
  return instance;
}

namespace detail {
void throw_bad_result_access(std::error_code error, const std::string& message) {
  throw std::system_error(error, message.empty() ? "redlock result holds an error" : message);
}
}  // namespace detail

}  // namespace redlock
