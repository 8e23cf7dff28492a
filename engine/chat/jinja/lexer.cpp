// Lexer: follows jinja2's lexer rule by rule (see lexer.h) so that whitespace handling, which
// decides most of a chat prompt's bytes, matches transformers exactly.
#include "engine/chat/jinja/lexer.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "engine/chat/chat_template_error.h"
#include "engine/chat/jinja/text.h"

namespace sy::jinja {
namespace {

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Jinja's `\s*` after `-%}`: Python's Unicode whitespace, on UTF-8 bytes.
size_t skip_whitespace(const std::string& s, size_t pos) {
  while (pos < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[pos]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : 4;  // UTF-8 sequence length
    std::u32string cp = text::to_u32(std::string_view(s).substr(pos, len));
    if (cp.size() != 1 || !text::is_space(cp[0])) break;
    pos += len;
  }
  return pos;
}

class Lexer {
 public:
  explicit Lexer(std::string source) : src_(normalize_newlines(std::move(source))) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;  // did the previous match end with a newline (lstrip_blocks rule)
    while (pos < src_.size()) {
      size_t tag = find_tag(pos);
      std::string text = src_.substr(pos, (tag == std::string::npos ? src_.size() : tag) - pos);
      if (tag == std::string::npos) {
        emit_text(text, pos);
        break;
      }
      char opener = src_[tag + 1];  // '{', '%' or '#'
      char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      if (sign == '-') {
        text = text::strip(text, std::nullopt, false, true);
      } else if (sign != '+' && opener != '{') {
        text = lstrip_block_indent(text, line_starting);
      }
      emit_text(text, pos);
      size_t body = tag + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
      if (opener == '#') {
        pos = lex_comment(tag, body);
      } else if (opener == '%' && is_raw_begin(body)) {
        pos = lex_raw(tag, body);
      } else {
        pos = lex_tag(tag, body, opener == '{');
      }
      line_starting = pos > 0 && src_[pos - 1] == '\n';
    }
    tokens_.push_back({Token::Type::End, "", line_of(src_.size()), column_of(src_.size())});
    return std::move(tokens_);
  }

 private:
  static std::string normalize_newlines(std::string s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\r') {
        out.push_back('\n');
        if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
      } else {
        out.push_back(s[i]);
      }
    }
    // keep_trailing_newline=False: a template's single final newline is not output.
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  int line_of(size_t pos) const {
    return static_cast<int>(std::upper_bound(line_starts_.begin(), line_starts_.end(), pos) - line_starts_.begin());
  }
  // Columns count code points. Positions arrive mostly in increasing order, so continue from
  // the last one on the same line instead of rescanning the line (keeps lexing linear).
  int column_of(size_t pos) const {
    size_t line_start = line_starts_[static_cast<size_t>(line_of(pos) - 1)];
    if (column_cache_pos_ < line_start || column_cache_pos_ > pos) {
      column_cache_pos_ = line_start;
      column_cache_col_ = 1;
    }
    column_cache_col_ += static_cast<int>(text::length(std::string_view(src_).substr(column_cache_pos_, pos - column_cache_pos_)));
    column_cache_pos_ = pos;
    return column_cache_col_;
  }
  [[noreturn]] void error(const std::string& message, size_t pos) const {
    throw ChatTemplateError(message, line_of(pos), column_of(pos));
  }

  size_t find_tag(size_t pos) const {
    for (size_t i = src_.find('{', pos); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  // lstrip_blocks: whitespace between the start of the line and a block/comment tag goes away.
  static std::string lstrip_block_indent(const std::string& text, bool line_starting) {
    size_t line_pos = text.rfind('\n');
    line_pos = line_pos == std::string::npos ? 0 : line_pos + 1;
    if (line_pos == 0 && !line_starting) return text;
    std::string_view tail = std::string_view(text).substr(line_pos);
    if (tail.empty()) return text;
    for (char32_t c : text::to_u32(tail))
      if (!text::is_space(c)) return text;
    return text.substr(0, line_pos);
  }

  void emit_text(const std::string& text, size_t pos) {
    if (!text.empty()) tokens_.push_back({Token::Type::Text, text, line_of(pos), column_of(pos)});
  }

  // After `%}`/`#}`: `-` eats all following whitespace, `+` nothing, else trim_blocks eats one newline.
  size_t after_block_end(size_t end_pos, char sign) const {
    if (sign == '-') return skip_whitespace(src_, end_pos);
    if (sign != '+' && end_pos < src_.size() && src_[end_pos] == '\n') return end_pos + 1;
    return end_pos;
  }

  size_t lex_comment(size_t tag, size_t body) {
    size_t close = src_.find("#}", body);
    if (close == std::string::npos) error("missing end of comment tag", tag);
    char sign = close > body && (src_[close - 1] == '-' || src_[close - 1] == '+') ? src_[close - 1] : '\0';
    return after_block_end(close + 2, sign);
  }

  bool is_raw_begin(size_t body) const {
    size_t p = body;
    while (p < src_.size() && is_ws(src_[p])) ++p;
    if (src_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    while (p < src_.size() && is_ws(src_[p])) ++p;
    return src_.compare(p, 2, "%}") == 0 || src_.compare(p, 3, "-%}") == 0;
  }

  size_t lex_raw(size_t tag, size_t body) {
    size_t p = src_.find("raw", body) + 3;
    while (is_ws(src_[p])) ++p;
    if (src_[p] == '-') p = skip_whitespace(src_, p + 3);
    else p += 2;  // `{% raw %}` has no trim_blocks newline removal in jinja2
    // Find `{%[-+]? endraw [-+]?%}`.
    for (size_t i = src_.find("{%", p); i != std::string::npos; i = src_.find("{%", i + 2)) {
      size_t q = i + 2;
      char open_sign = (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) ? src_[q] : '\0';
      if (open_sign) ++q;
      while (q < src_.size() && is_ws(src_[q])) ++q;
      if (src_.compare(q, 6, "endraw") != 0) continue;
      q += 6;
      while (q < src_.size() && is_ws(src_[q])) ++q;
      char close_sign = (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) ? src_[q] : '\0';
      if (src_.compare(q + (close_sign ? 1 : 0), 2, "%}") != 0) continue;
      std::string content = src_.substr(p, i - p);
      if (open_sign == '-') content = text::strip(content, std::nullopt, false, true);
      else if (open_sign != '+') content = lstrip_block_indent(content, p > 0 && src_[p - 1] == '\n');
      emit_text(content, p);
      return after_block_end(q + (close_sign ? 1 : 0) + 2, close_sign);
    }
    error("unexpected end of template, missing 'endraw'", tag);
  }

  // Lexes the expression tokens of a `{{ ... }}` or `{% ... %}` tag; returns the position after it.
  size_t lex_tag(size_t tag, size_t body, bool is_variable) {
    tokens_.push_back({is_variable ? Token::Type::VarBegin : Token::Type::BlockBegin, "", line_of(tag), column_of(tag)});
    const char closer = is_variable ? '}' : '%';
    int depth = 0;  // open brackets: a `}}` inside a dict literal does not end the tag
    size_t p = body;
    while (true) {
      while (p < src_.size() && is_ws(src_[p])) ++p;
      if (p >= src_.size()) error(is_variable ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'", tag);
      if (depth == 0) {
        char sign = (src_[p] == '-' || (!is_variable && src_[p] == '+')) ? src_[p] : '\0';
        size_t q = p + (sign ? 1 : 0);
        if (q + 1 < src_.size() && src_[q] == closer && src_[q + 1] == '}') {
          tokens_.push_back({is_variable ? Token::Type::VarEnd : Token::Type::BlockEnd, "", line_of(p), column_of(p)});
          if (is_variable) return sign == '-' ? skip_whitespace(src_, q + 2) : q + 2;
          return after_block_end(q + 2, sign);
        }
      }
      p = lex_expression_token(p, depth);
    }
  }

  size_t lex_expression_token(size_t p, int& depth) {
    const int line = line_of(p), column = column_of(p);
    char c = src_[p];
    if (is_name_start(c)) {
      size_t q = p;
      while (q < src_.size() && is_name_char(src_[q])) ++q;
      tokens_.push_back({Token::Type::Name, src_.substr(p, q - p), line, column});
      return q;
    }
    if (c == '\'' || c == '"') return lex_string(p, line, column);
    if (is_digit(c)) return lex_number(p, line, column);
    static const char* const kOperators[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "(",
                                             ")", "[", "]", "{", "}", "<", ">", "=", ".", ":", "|", ",", ";"};
    for (const char* op : kOperators) {
      size_t len = std::strlen(op);
      if (src_.compare(p, len, op) == 0) {
        if (c == '(' || c == '[' || c == '{') ++depth;
        if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
        tokens_.push_back({Token::Type::Operator, op, line, column});
        return p + len;
      }
    }
    error(std::string("unexpected char '") + c + "'", p);
  }

  size_t lex_string(size_t p, int line, int column) {
    const char quote = src_[p];
    std::string value;
    size_t q = p + 1;
    while (true) {
      if (q >= src_.size()) error("unexpected end of string", p);
      char c = src_[q];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        ++q;
        continue;
      }
      if (q + 1 >= src_.size()) error("unexpected end of string", p);
      q = unescape(q + 1, value, p);
    }
    tokens_.push_back({Token::Type::String, value, line, column});
    return q + 1;
  }

  // Python's unicode-escape decoding of one escape sequence starting after the backslash.
  size_t unescape(size_t q, std::string& out, size_t string_start) {
    char e = src_[q];
    auto hex_escape = [&](int digits) {
      if (q + static_cast<size_t>(digits) >= src_.size()) error("truncated escape sequence", string_start);
      uint32_t cp = 0;
      for (int k = 1; k <= digits; ++k) {
        char h = src_[q + static_cast<size_t>(k)];
        int v = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
        if (v < 0) error(digits == 2 ? "truncated \\xXX escape" : digits == 4 ? "truncated \\uXXXX escape" : "truncated \\UXXXXXXXX escape", string_start);
        cp = cp * 16 + static_cast<uint32_t>(v);
      }
      if (cp > 0x10ffff) error("illegal Unicode character", string_start);
      text::append_utf8(out, cp);
      return q + static_cast<size_t>(digits) + 1;
    };
    switch (e) {
      case '\n': return q + 1;
      case '\\': out.push_back('\\'); return q + 1;
      case '\'': out.push_back('\''); return q + 1;
      case '"': out.push_back('"'); return q + 1;
      case 'a': out.push_back('\a'); return q + 1;
      case 'b': out.push_back('\b'); return q + 1;
      case 'f': out.push_back('\f'); return q + 1;
      case 'n': out.push_back('\n'); return q + 1;
      case 'r': out.push_back('\r'); return q + 1;
      case 't': out.push_back('\t'); return q + 1;
      case 'v': out.push_back('\v'); return q + 1;
      case 'x': return hex_escape(2);
      case 'u': return hex_escape(4);
      case 'U': return hex_escape(8);
      default: break;
    }
    if (e >= '0' && e <= '7') {
      uint32_t cp = 0;
      size_t k = q;
      while (k < q + 3 && k < src_.size() && src_[k] >= '0' && src_[k] <= '7') cp = cp * 8 + static_cast<uint32_t>(src_[k++] - '0');
      text::append_utf8(out, cp);
      return k;
    }
    out.push_back('\\');  // unknown escapes stay as written
    return q;
  }

  size_t lex_number(size_t p, int line, int column) {
    size_t q = p;
    auto digits = [&]() {
      while (q < src_.size() && (is_digit(src_[q]) || (src_[q] == '_' && q + 1 < src_.size() && is_digit(src_[q + 1])))) ++q;
    };
    if (src_[p] == '0' && q + 1 < src_.size() && (src_[p + 1] == 'x' || src_[p + 1] == 'X' || src_[p + 1] == 'o' ||
                                                   src_[p + 1] == 'O' || src_[p + 1] == 'b' || src_[p + 1] == 'B')) {
      int base = (src_[p + 1] == 'x' || src_[p + 1] == 'X') ? 16 : (src_[p + 1] == 'o' || src_[p + 1] == 'O') ? 8 : 2;
      q = p + 2;
      std::string v;
      while (q < src_.size() && (std::isxdigit(static_cast<unsigned char>(src_[q])) || src_[q] == '_')) {
        if (src_[q] != '_') v.push_back(src_[q]);
        ++q;
      }
      tokens_.push_back({Token::Type::Integer, std::to_string(std::stoll(v, nullptr, base)), line, column});
      return q;
    }
    digits();
    bool is_float = false;
    if (q + 1 < src_.size() && src_[q] == '.' && is_digit(src_[q + 1])) {
      ++q;
      digits();
      is_float = true;
    }
    if (q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
      size_t r = q + 1;
      if (r < src_.size() && (src_[r] == '+' || src_[r] == '-')) ++r;
      if (r < src_.size() && is_digit(src_[r])) {
        q = r;
        digits();
        is_float = true;
      }
    }
    std::string v;
    for (size_t k = p; k < q; ++k)
      if (src_[k] != '_') v.push_back(src_[k]);
    tokens_.push_back({is_float ? Token::Type::Float : Token::Type::Integer, v, line, column});
    return q;
  }

  std::string src_;
  std::vector<size_t> line_starts_;  // byte offset where each line begins
  mutable size_t column_cache_pos_ = 0;
  mutable int column_cache_col_ = 1;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) { return Lexer(source).run(); }

}  // namespace sy::jinja
