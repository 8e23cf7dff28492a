// ChatTemplateError: the one exception the chat-template layer throws (request -> chat template
// -> token ids). It names where in the template source the problem sits, so a user can fix a
// broken template from the message alone.
#pragma once

#include <stdexcept>
#include <string>

namespace sy {

class ChatTemplateError : public std::runtime_error {
 public:
  // line/column are 1-based positions in the template source; 0 when the error has no position
  // (for example a missing template file).
  ChatTemplateError(const std::string& message, int line = 0, int column = 0)
      : std::runtime_error(format(message, line, column)), message_(message), line_(line), column_(column) {}

  const std::string& message() const { return message_; }
  int line() const { return line_; }
  int column() const { return column_; }

 private:
  static std::string format(const std::string& message, int line, int column) {
    if (line <= 0) return "chat template: " + message;
    return "chat template line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message;
  }
  std::string message_;
  int line_;
  int column_;
};

}  // namespace sy
