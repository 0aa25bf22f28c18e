#include "store_link.hpp"

#include <exception>

namespace redlock::torture {

outcome<store_reply> store_link::call(const std::vector<std::string>& args) {
  try {
    return link_.call(args);
  } catch (const std::exception& e) {
    return fail(std::string("store: ") + e.what());
  }
}

}  // namespace redlock::torture
