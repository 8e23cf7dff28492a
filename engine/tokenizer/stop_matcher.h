// Stop strings over a stream of text deltas (sampler -> detokenize -> **stop check** -> request
// stream). Matches across delta boundaries; holds back only a suffix that could still begin a
// stop string, so everything released is final.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sy::tok {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stop_strings);

  struct Result {
    std::string text;          // released text (before the stop string when one matched)
    bool stopped = false;
    std::string matched_stop;  // the stop string found
  };
  // Feeds more text. After a stop, further calls release nothing.
  Result push(std::string_view text);
  // Releases held-back text at the end of the stream (cut at a stop string if one is in it).
  Result finish();
  bool stopped() const { return stopped_; }

 private:
  Result scan(bool at_end);
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace sy::tok
