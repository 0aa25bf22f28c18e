// uv_handle<H>: the one owner of a libuv handle. init() allocates the handle on the heap and
// initializes it; close() hands it to uv_close, and its memory is freed only in libuv's close
// callback (libuv may touch it until then), after which `closed` runs. Destroying an owner
// whose handle is still open closes it (the loop must still run to free it); debug builds
// assert that this does not happen, since the owner of a handle must know when it is gone.
//
//   uv_handle<uv_timer_t> timer;
//   timer.init([&](uv_timer_t* t) { return uv_timer_init(loop, t); });
//   timer.get()->data = this;
//   ...
//   timer.close([this] { barrier_done(); });
//
// close_barrier counts closes and runs its callback once the last one finished.
#pragma once

#include <uv.h>

#include <cassert>
#include <functional>
#include <memory>
#include <utility>

namespace redlock::detail {

template <class H>
class uv_handle {
 public:
  uv_handle() = default;
  uv_handle(const uv_handle&) = delete;
  uv_handle& operator=(const uv_handle&) = delete;
  ~uv_handle() {
    assert(box_ == nullptr && "a uv handle was destroyed without close()");
    if (box_ != nullptr) close();
  }

  // Allocates the handle and runs `init_fn(handle)` (a uv_*_init call); the handle is owned
  // only when that returns 0, which init() returns.
  template <class Init>
  int init(Init&& init_fn) {
    box* b = new box;
    int rc = init_fn(&b->handle);
    if (rc != 0) {
      delete b;
      return rc;
    }
    box_ = b;
    return 0;
  }
  bool open() const { return box_ != nullptr; }
  // Valid while open().
  H* get() const { return &box_->handle; }
  uv_handle_t* raw() const { return reinterpret_cast<uv_handle_t*>(&box_->handle); }

  // Closes the handle; `closed` runs from libuv's close callback, after the memory is freed.
  // Nothing happens (and `closed` does not run) when no handle is open.
  void close(std::function<void()> closed = nullptr) {
    if (box_ == nullptr) return;
    box* b = box_;
    box_ = nullptr;
    b->closed = std::move(closed);
    b->handle.data = b;  // the handle's own callbacks never run again; the close callback does
    uv_close(reinterpret_cast<uv_handle_t*>(&b->handle), [](uv_handle_t* h) {
      box* done = static_cast<box*>(h->data);
      auto closed_fn = std::move(done->closed);
      delete done;
      if (closed_fn) closed_fn();
    });
  }

 private:
  struct box {
    H handle{};
    std::function<void()> closed;
  };
  box* box_ = nullptr;
};

// Runs `all_closed` once every close it handed out a callback for has finished (close
// callbacks run from the loop, never inside uv_close, so every expect() comes first). The
// callbacks may outlive the barrier object.
class close_barrier {
 public:
  explicit close_barrier(std::function<void()> all_closed)
      : state_(std::make_shared<state>(state{0, std::move(all_closed)})) {}
  std::function<void()> expect() {
    ++state_->pending;
    return [s = state_] {
      if (--s->pending == 0 && s->all_closed) {
        auto fn = std::move(s->all_closed);
        fn();
      }
    };
  }

 private:
  struct state {
    int pending;
    std::function<void()> all_closed;
  };
  std::shared_ptr<state> state_;
};

}  // namespace redlock::detail
