#include "engine/tokenizer/post_processor.h"

namespace sy::tok {
namespace {

// The result is always prefix + ids + suffix for the processors we support.
class AffixProcessor final : public PostProcessor {
 public:
  AffixProcessor(std::vector<int32_t> prefix, std::vector<int32_t> suffix)
      : prefix_(std::move(prefix)), suffix_(std::move(suffix)) {}
  void process(std::vector<int32_t>& ids) const override {
    ids.insert(ids.begin(), prefix_.begin(), prefix_.end());
    ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  }
  std::vector<int32_t> prefix_ids() const override { return prefix_; }
  std::vector<int32_t> suffix_ids() const override { return suffix_; }

 private:
  std::vector<int32_t> prefix_, suffix_;
};

class SequenceProcessor final : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& part : parts_) part->process(ids);
  }
  std::vector<int32_t> prefix_ids() const override {
    std::vector<int32_t> out;
    for (auto it = parts_.rbegin(); it != parts_.rend(); ++it) {
      auto p = (*it)->prefix_ids();
      out.insert(out.end(), p.begin(), p.end());
    }
    return out;
  }
  std::vector<int32_t> suffix_ids() const override {
    std::vector<int32_t> out;
    for (const auto& part : parts_) {
      auto s = part->suffix_ids();
      out.insert(out.end(), s.begin(), s.end());
    }
    return out;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

std::unique_ptr<PostProcessor> make_template(const json& j, const std::string& path) {
  const std::string specials_path = child_path(path, "special_tokens");
  const json* specials = find_member(j, "special_tokens");
  const std::string single_path = child_path(path, "single");
  const json& single = as_array(require_member(j, path, "single"), single_path);
  std::vector<int32_t> prefix, suffix;
  bool seen_sequence = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string piece_path = index_path(single_path, i);
    const json& piece = single[i];
    if (const json* seq = find_member(piece, "Sequence")) {
      const std::string which = as_string(require_member(*seq, child_path(piece_path, "Sequence"), "id"),
                                          child_path(piece_path, "Sequence.id"));
      if (which != "A") throw FormatError(child_path(piece_path, "Sequence.id"), "single template may only use sequence A");
      if (seen_sequence) throw FormatError(piece_path, "sequence A appears twice");
      seen_sequence = true;
      continue;
    }
    const json* special = find_member(piece, "SpecialToken");
    if (!special) throw FormatError(piece_path, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    const std::string name = as_string(require_member(*special, child_path(piece_path, "SpecialToken"), "id"),
                                       child_path(piece_path, "SpecialToken.id"));
    if (!specials || !specials->contains(name)) throw FormatError(specials_path, "no entry for \"" + name + "\"");
    const std::string entry_path = child_path(specials_path, name);
    const json& ids = as_array(require_member((*specials)[name], entry_path, "ids"), child_path(entry_path, "ids"));
    for (size_t k = 0; k < ids.size(); ++k) {
      (seen_sequence ? suffix : prefix).push_back(as_token_id(ids[k], index_path(child_path(entry_path, "ids"), k)));
    }
  }
  if (!seen_sequence) throw FormatError(single_path, "template has no sequence A");
  return std::make_unique<AffixProcessor>(std::move(prefix), std::move(suffix));
}

// BertProcessing / RobertaProcessing: {"cls": [token, id], "sep": [token, id]}.
std::unique_ptr<PostProcessor> make_cls_sep(const json& j, const std::string& path) {
  auto id_of = [&](const char* key) {
    const std::string p = child_path(path, key);
    const json& pair = require_member(j, path, key);
    if (!pair.is_array() || pair.size() != 2) throw FormatError(p, "expected [token, id]");
    return as_token_id(pair[1], index_path(p, 1));
  };
  return std::make_unique<AffixProcessor>(std::vector<int32_t>{id_of("cls")}, std::vector<int32_t>{id_of("sep")});
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  const std::string type = component_type(j, path);
  if (type == "TemplateProcessing") return make_template(j, path);
  if (type == "ByteLevel") return std::make_unique<AffixProcessor>(std::vector<int32_t>{}, std::vector<int32_t>{});
  if (type == "BertProcessing" || type == "RobertaProcessing") return make_cls_sep(j, path);
  if (type == "Sequence") {
    const std::string list_path = child_path(path, "processors");
    const json& list = as_array(require_member(j, path, "processors"), list_path);
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto part = make_post_processor(list[i], index_path(list_path, i))) parts.push_back(std::move(part));
    }
    return std::make_unique<SequenceProcessor>(std::move(parts));
  }
  throw FormatError(child_path(path, "type"), "unsupported post-processor type \"" + type + "\"");
}

}  // namespace sy::tok
