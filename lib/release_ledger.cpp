#include "release_ledger.hpp"

#include <algorithm>

namespace redlock::detail {

void release_ledger::owe(owed_release debt) {
  auto id = std::make_pair(std::move(debt.keys), std::move(debt.token));
  if (auto it = entries_.find(id); it != entries_.end()) {
    it->second = std::max(it->second, debt.expires);
    return;
  }
  if (capacity_ == 0) {
    ++dropped_;
    return;
  }
  if (entries_.size() >= capacity_) {
    // Full: the entry whose keys expire first matters least (it goes away by itself first).
    auto first = std::min_element(entries_.begin(), entries_.end(),
                                  [](const auto& a, const auto& b) { return a.second < b.second; });
    ++dropped_;
    if (first->second >= debt.expires) return;  // the new one expires first: give it up
    entries_.erase(first);
  }
  entries_.emplace(std::move(id), debt.expires);
}

std::vector<owed_release> release_ledger::take() {
  std::vector<owed_release> out;
  out.reserve(entries_.size());
  for (auto& [id, expires] : entries_)
    out.push_back({id.first, id.second, expires});
  entries_.clear();
  return out;
}

}  // namespace redlock::detail
