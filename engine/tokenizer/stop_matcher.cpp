#include "engine/tokenizer/stop_matcher.h"

#include <algorithm>

namespace sy::tok {

StopMatcher::StopMatcher(std::vector<std::string> stop_strings) {
  for (auto& s : stop_strings) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

StopMatcher::Result StopMatcher::push(std::string_view text) {
  if (stopped_) return {};
  held_.append(text);
  return scan(false);
}

StopMatcher::Result StopMatcher::finish() {
  if (stopped_) return {};
  return scan(true);
}

StopMatcher::Result StopMatcher::scan(bool at_end) {
  Result result;
  // The earliest occurrence wins; among stops starting at the same place, the first listed.
  size_t best = std::string::npos;
  const std::string* best_stop = nullptr;
  for (const std::string& stop : stops_) {
    const size_t at = held_.find(stop);
    if (at < best) {
      best = at;
      best_stop = &stop;
    }
  }
  if (best_stop) {
    result.text = held_.substr(0, best);
    result.stopped = true;
    result.matched_stop = *best_stop;
    stopped_ = true;
    held_.clear();
    return result;
  }
  // Hold the longest suffix that is a proper prefix of a stop string. Stop strings are valid
  // UTF-8, so such a suffix starts on a character boundary and the release stays valid UTF-8.
  size_t hold = 0;
  if (!at_end) {
    for (const std::string& stop : stops_) {
      for (size_t k = std::min(stop.size() - 1, held_.size()); k > hold; --k) {
        if (held_.compare(held_.size() - k, k, stop, 0, k) == 0) {
          hold = k;
          break;
        }
      }
    }
  }
  result.text = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return result;
}

}  // namespace sy::tok
