#include "engine/serving/request_validation.h"

#include <cmath>

namespace sy {
namespace {

std::string num(double v) {
  if (std::isnan(v)) return "NaN";
  std::string s = std::to_string(v);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

std::optional<FieldError> validate_sampling_params(const SamplingParams& p,
                                                   const RequestLimits& limits,
                                                   const std::string& prefix) {
  auto err = [&](const char* field, std::string msg) {
    return std::optional<FieldError>(FieldError{prefix + field, std::move(msg)});
  };
  if (p.n < 1 || p.n > limits.max_n)
    return err("n", "must be in [1, " + std::to_string(limits.max_n) + "], got " + std::to_string(p.n));
  if (p.max_tokens < 0) return err("max_tokens", "must be > 0, got " + std::to_string(p.max_tokens));
  if (p.min_tokens < 0 || (p.max_tokens > 0 && p.min_tokens > p.max_tokens))
    return err("min_tokens", "must be in [0, max_tokens], got " + std::to_string(p.min_tokens));
  if (!(p.temperature >= 0.0f) || std::isinf(p.temperature))
    return err("temperature", "must be a finite number >= 0, got " + num(p.temperature));
  if (p.top_k < -1) return err("top_k", "must be -1 (off), 0 (off) or > 0, got " + std::to_string(p.top_k));
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return err("top_p", "must be in (0, 1], got " + num(p.top_p));
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) return err("min_p", "must be in [0, 1], got " + num(p.min_p));
  if (!(p.repetition_penalty > 0.0f && p.repetition_penalty <= 2.0f))
    return err("repetition_penalty", "must be in (0, 2], got " + num(p.repetition_penalty));
  if (!(p.presence_penalty >= -2.0f && p.presence_penalty <= 2.0f))
    return err("presence_penalty", "must be in [-2, 2], got " + num(p.presence_penalty));
  if (!(p.frequency_penalty >= -2.0f && p.frequency_penalty <= 2.0f))
    return err("frequency_penalty", "must be in [-2, 2], got " + num(p.frequency_penalty));
  if (p.logprobs < -1 || p.logprobs > limits.max_logprobs)
    return err("logprobs", "must be in [0, " + std::to_string(limits.max_logprobs) +
                               "] (or unset), got " + std::to_string(p.logprobs));
  if (static_cast<int64_t>(p.stop.size()) > limits.max_stop_strings)
    return err("stop", "at most " + std::to_string(limits.max_stop_strings) + " stop strings, got " +
                           std::to_string(p.stop.size()));
  for (size_t i = 0; i < p.stop.size(); ++i) {
    const std::string& s = p.stop[i];
    const std::string field = "stop[" + std::to_string(i) + "]";
    if (s.empty()) return err(field.c_str(), "stop string is empty");
    if (static_cast<int64_t>(s.size()) > limits.max_stop_string_bytes)
      return err(field.c_str(), "longer than " + std::to_string(limits.max_stop_string_bytes) +
                                    " bytes (" + std::to_string(s.size()) + ")");
    if (!is_valid_utf8(s)) return err(field.c_str(), "is not valid UTF-8");
  }
  if (static_cast<int64_t>(p.stop_token_ids.size()) > limits.max_stop_token_ids)
    return err("stop_token_ids", "at most " + std::to_string(limits.max_stop_token_ids) +
                                     " ids, got " + std::to_string(p.stop_token_ids.size()));
  return std::nullopt;
}

std::optional<FieldError> validate_token_ids(const std::vector<int32_t>& ids, int32_t vocab_size,
                                             const std::string& field) {
  if (ids.empty()) return FieldError{field, "is empty"};
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= vocab_size)
      return FieldError{field + "[" + std::to_string(i) + "]",
                        "token id " + std::to_string(ids[i]) + " is outside the vocabulary [0, " +
                            std::to_string(vocab_size) + ")"};
  return std::nullopt;
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong encodings, surrogates and values past U+10FFFF are invalid.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return false;
    i += len;
  }
  return true;
}

}  // namespace sy
