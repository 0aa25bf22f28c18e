#include "node/reply_reader.hpp"

#include <hiredis/hiredis.h>

#include <new>

namespace redlock::detail {

reply_reader::reply_reader() : reader_(redisReaderCreate()) {
  if (reader_ == nullptr) throw std::bad_alloc();
}

reply_reader::~reply_reader() {
  redisReaderFree(reader_);
}

bool reply_reader::feed(std::string_view bytes) {
  if (failed()) return false;
  if (redisReaderFeed(reader_, bytes.data(), bytes.size()) != REDIS_OK) {
    error_ = std::string("cannot buffer the reply: ") + reader_->errstr;
    return false;
  }
  check_size();
  return !failed();
}

void reply_reader::check_size() {
  // What is buffered and not yet parsed belongs to one reply still incomplete (next() takes
  // every complete one out): a server announcing a huge bulk would make us buffer it all.
  std::size_t unparsed = reader_->len - reader_->pos;
  if (unparsed > max_reply_bytes) {
    error_ = "reply larger than " + std::to_string(max_reply_bytes >> 20) + " MiB";
  }
}

std::optional<reply> reply_reader::next() {
  if (failed()) return std::nullopt;
  void* raw = nullptr;
  if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
    error_ = std::string("protocol error: ") + reader_->errstr;
    return std::nullopt;
  }
  if (raw == nullptr) {
    check_size();
    return std::nullopt;
  }
  reply value = decode_reply(static_cast<const redisReply*>(raw));
  freeReplyObject(raw);
  return value;
}

}  // namespace redlock::detail
