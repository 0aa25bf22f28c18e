#include "recorder.hpp"

#include <cstdio>
#include <cstdlib>

namespace redlock::torture {

time_point recorder::write(event what) {
  std::lock_guard<std::mutex> hold(mutex_);
  record r{std::chrono::steady_clock::now(), client_, std::move(what)};
  if (auto done = out_.write(r); !done) {
    std::fprintf(stderr, "%s: cannot write its history: %s\n", client_.c_str(),
                 done.error().c_str());
    std::_Exit(3);
  }
  return r.t;
}

}  // namespace redlock::torture
