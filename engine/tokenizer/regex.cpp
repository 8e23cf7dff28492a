#include "engine/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdexcept>

namespace sy::tok {

struct Regex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
};

namespace {

// Classes whose Oniguruma membership (HF's Unicode version) exceeds PCRE2's, with the extra
// code points as class items; "s" is Oniguruma's whole \s set (PCRE2's adds U+180E).
struct ClassItems {
  const char* name;
  const char* items;
};
constexpr ClassItems kOnigurumaClasses[] = {
#include "engine/tokenizer/unicode_extras.inc"
};

const char* oniguruma_items(std::string_view name) {
  for (const auto& c : kOnigurumaClasses) {
    if (name == c.name) return c.items;
  }
  return nullptr;
}

// One JIT stack and match context per thread: patterns such as \s+(?!\S) on long whitespace
// runs need more than PCRE2's 32 KiB default machine stack.
struct ThreadMatchState {
  pcre2_jit_stack* jit_stack = nullptr;
  pcre2_match_context* context = nullptr;
  ThreadMatchState() {
    jit_stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    context = pcre2_match_context_create(nullptr);
    if (jit_stack && context) pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~ThreadMatchState() {
    if (context) pcre2_match_context_free(context);
    if (jit_stack) pcre2_jit_stack_free(jit_stack);
  }
};

ThreadMatchState& thread_match_state() {
  thread_local ThreadMatchState state;
  return state;
}

}  // namespace

std::string translate_oniguruma_pattern(std::string_view p) {
  std::string out;
  out.reserve(p.size());
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[i + 1];
      if (e == 'Q') {  // \Q...\E is literal text
        const size_t end = p.find("\\E", i + 2);
        const size_t stop = end == std::string_view::npos ? p.size() : end + 2;
        out.append(p.substr(i, stop - i));
        i = stop - 1;
        continue;
      }
      if ((e == 'p' || e == 'P') && i + 2 < p.size() && p[i + 2] == '{') {
        const size_t close = p.find('}', i + 3);
        if (close != std::string_view::npos) {
          const std::string_view original = p.substr(i, close + 1 - i);
          const char* extra = oniguruma_items(p.substr(i + 3, close - i - 3));
          if (!extra || !*extra || (in_class && e == 'P')) {
            out.append(original);  // nothing to add (or \P inside a class: PCRE2's table)
          } else if (in_class) {
            out.append(original).append(extra);
          } else {
            out.append(e == 'p' ? "[" : "[^").append("\\p").append(original.substr(2)).append(extra).append("]");
          }
          i = close;
          continue;
        }
      }
      if (e == 's' || e == 'S') {
        const char* spaces = oniguruma_items("s");
        if (!in_class) {
          out.append(e == 's' ? "[" : "[^").append(spaces).append("]");
        } else if (e == 's') {
          out.append(spaces);
        } else {
          out.append("\\S");
        }
        ++i;
        continue;
      }
      out.push_back(c);
      out.push_back(e);
      ++i;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out.push_back(c);
      if (i + 1 < p.size() && p[i + 1] == '^') out.push_back(p[++i]);
      if (i + 1 < p.size() && p[i + 1] == ']') out.push_back(p[++i]);  // leading ] is literal
      continue;
    }
    if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {  // POSIX [:name:]
      const size_t close = p.find(":]", i + 2);
      if (close != std::string_view::npos) {
        out.append(p.substr(i, close + 2 - i));
        i = close + 1;
        continue;
      }
    }
    if (in_class && c == ']') in_class = false;
    out.push_back(c);
  }
  return out;
}

Regex::Regex(const std::string& pattern) : pattern_(pattern), code_(std::make_unique<Code>()) {
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  const std::string translated = translate_oniguruma_pattern(pattern);
  code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &error_offset,
                              nullptr);
  if (!code_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    throw std::invalid_argument("bad regex at offset " + std::to_string(error_offset) + ": " +
                                reinterpret_cast<const char*>(message));
  }
  code_->jit = pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() {
  if (code_ && code_->code) pcre2_code_free(code_->code);
}

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& matches) const {
  matches.clear();
  ThreadMatchState& state = thread_match_state();
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(code_->code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  while (start <= text.size()) {
    // Text is valid UTF-8 (checked once at the tokenizer's entry), so skip PCRE2's check.
    const int rc = code_->jit
        ? pcre2_jit_match(code_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, data, state.context)
        : pcre2_match(code_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, data, state.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(data);
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      throw std::runtime_error("regex match failed for /" + pattern_ + "/: " +
                               reinterpret_cast<const char*>(message));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    const size_t begin = ovector[0], end = ovector[1];
    if (end == begin) {
      // Empty match: Oniguruma's iterator reports it and moves on by one character.
      matches.emplace_back(begin, end);
      if (begin >= text.size()) break;
      size_t next = begin + 1;
      while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) ++next;
      start = next;
      continue;
    }
    matches.emplace_back(begin, end);
    start = end;
  }
  pcre2_match_data_free(data);
}

std::string escape_regex_literal(std::string_view literal) {
  // \Q...\E quotes everything except a literal "\E", which is split out.
  std::string out = "\\Q";
  for (size_t i = 0; i < literal.size(); ++i) {
    if (literal[i] == '\\' && i + 1 < literal.size() && literal[i + 1] == 'E') {
      out += "\\E\\\\E\\Q";
      ++i;
    } else {
      out.push_back(literal[i]);
    }
  }
  out += "\\E";
  return out;
}

}  // namespace sy::tok
