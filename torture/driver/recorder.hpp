// recorder: a client process's history, shared by its main thread and the client's loop thread
// (on_lost callbacks), each record stamped with CLOCK_MONOTONIC (steady_clock) as it is
// written. A record that cannot be written ends the process (exit status 3): a history with a
// hole would prove nothing.
#pragma once

#include <mutex>
#include <string>
#include <utility>

#include "history.hpp"

namespace redlock::torture {

class recorder {
 public:
  recorder(history_writer out, std::string client) noexcept
      : out_(std::move(out)), client_(std::move(client)) {}

  // Stamps and writes one record; returns its time.
  time_point write(event what);

 private:
  std::mutex mutex_;
  history_writer out_;
  std::string client_;
};

}  // namespace redlock::torture
