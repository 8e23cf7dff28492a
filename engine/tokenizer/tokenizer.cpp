#include "engine/tokenizer/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "engine/tokenizer/added_vocabulary.h"
#include "engine/tokenizer/bpe_model.h"
#include "engine/tokenizer/decoder.h"
#include "engine/tokenizer/json_reader.h"
#include "engine/tokenizer/normalizer.h"
#include "engine/tokenizer/post_processor.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/utf8.h"

namespace sy {

using tok::json;

struct Tokenizer::Impl {
  std::unique_ptr<tok::Normalizer> normalizer;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer;
  std::unique_ptr<tok::BpeModel> model;
  std::unique_ptr<tok::PostProcessor> post_processor;
  std::unique_ptr<tok::Decoder> decoder;
  std::unique_ptr<tok::AddedVocabulary> added;
  int32_t vocab_size = 0;
  std::string bos_token, eos_token;
  std::optional<int32_t> bos_id, eos_id;
  bool force_bos = false;  // tokenizer_config add_bos_token=true but the template lacks it
  bool force_eos = false;
};

namespace {

json read_json_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(file.string() + ": cannot open");
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return json::parse(buffer.str());
  } catch (const json::parse_error& e) {
    throw std::runtime_error(file.string() + ": invalid JSON: " + e.what());
  }
}

// bos_token/eos_token in tokenizer_config.json: a string or an AddedToken object.
std::string config_token(const json& config, const std::string& key) {
  const json* v = tok::find_member(config, key);
  if (!v) return "";
  if (v->is_string()) return v->get<std::string>();
  if (const json* content = tok::find_member(*v, "content")) return tok::as_string(*content, key + ".content");
  throw tok::FormatError(key, "expected a string or an object with \"content\"");
}

std::unique_ptr<tok::BpeModel> make_model(const json& root) {
  const json& model = tok::require_member(root, "", "model");
  std::string type = "BPE";
  if (const json* t = tok::find_member(model, "type")) {
    type = tok::as_string(*t, "model.type");
  } else if (!tok::find_member(model, "merges")) {
    throw tok::FormatError("model.type", "missing, and the model has no merges");
  }
  if (type != "BPE") throw tok::FormatError("model.type", "unsupported model type \"" + type + "\"");
  return tok::BpeModel::from_json(model, "model");
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::shared_ptr<const Tokenizer> Tokenizer::from_file(const std::filesystem::path& tokenizer_json) {
  const json root = read_json_file(tokenizer_json);
  auto impl = std::make_unique<Impl>();
  try {
    if (!root.is_object()) throw tok::FormatError("$", "expected an object");
    impl->normalizer = tok::make_normalizer(root.value("normalizer", json()), "normalizer");
    impl->pre_tokenizer = tok::make_pre_tokenizer(root.value("pre_tokenizer", json()), "pre_tokenizer");
    impl->model = make_model(root);
    impl->post_processor = tok::make_post_processor(root.value("post_processor", json()), "post_processor");
    impl->decoder = tok::make_decoder(root.value("decoder", json()), "decoder");
    impl->added = std::make_unique<tok::AddedVocabulary>(root.value("added_tokens", json()), "added_tokens",
                                                          impl->normalizer.get());
  } catch (const tok::FormatError& e) {
    throw std::runtime_error(tokenizer_json.string() + ": " + e.what());
  }
  int32_t max_id = impl->model->max_id();
  for (const auto& t : impl->added->tokens()) max_id = std::max(max_id, t.id);
  impl->vocab_size = max_id + 1;

  auto tokenizer = std::shared_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
  Impl& im = *tokenizer->impl_;
  const std::vector<int32_t> prefix = im.post_processor ? im.post_processor->prefix_ids() : std::vector<int32_t>{};
  const std::vector<int32_t> suffix = im.post_processor ? im.post_processor->suffix_ids() : std::vector<int32_t>{};

  const auto config_path = tokenizer_json.parent_path() / "tokenizer_config.json";
  if (std::filesystem::exists(config_path)) {
    const json config = read_json_file(config_path);
    try {
      im.bos_token = config_token(config, "bos_token");
      im.eos_token = config_token(config, "eos_token");
      if (!im.bos_token.empty()) im.bos_id = tokenizer->token_to_id(im.bos_token);
      if (!im.eos_token.empty()) im.eos_id = tokenizer->token_to_id(im.eos_token);
      if (!im.bos_token.empty() && !im.bos_id) throw tok::FormatError("bos_token", "\"" + im.bos_token + "\" is not a token");
      if (!im.eos_token.empty() && !im.eos_id) throw tok::FormatError("eos_token", "\"" + im.eos_token + "\" is not a token");
      // transformers adds BOS/EOS for these flags; the template may already do it.
      if (tok::optional_bool(config, "", "add_bos_token", false) && im.bos_id &&
          (prefix.empty() || prefix.front() != *im.bos_id)) {
        im.force_bos = true;
      }
      if (tok::optional_bool(config, "", "add_eos_token", false) && im.eos_id &&
          (suffix.empty() || suffix.back() != *im.eos_id)) {
        im.force_eos = true;
      }
    } catch (const tok::FormatError& e) {
      throw std::runtime_error(config_path.string() + ": " + e.what());
    }
  } else if (prefix.size() == 1) {
    // No config: the one token the template puts first is the BOS.
    im.bos_id = prefix.front();
    im.bos_token = tokenizer->id_to_token(prefix.front());
  }
  return tokenizer;
}

std::shared_ptr<const Tokenizer> Tokenizer::from_model_dir(const std::filesystem::path& dir) {
  const auto file = dir / "tokenizer.json";
  if (!std::filesystem::exists(file)) throw std::runtime_error(file.string() + ": no such file");
  return from_file(file);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return encode_impl(text, add_special_tokens, false);
}

std::vector<int32_t> Tokenizer::encode_plain(std::string_view text, bool add_special_tokens) const {
  return encode_impl(text, add_special_tokens, true);
}

std::vector<int32_t> Tokenizer::encode_impl(std::string_view text, bool add_special_tokens, bool split_special) const {
  const Impl& im = *impl_;
  std::string repaired;
  if (!tok::is_valid_utf8(text)) {
    repaired = tok::utf8_lossy(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<tok::TextSegment> raw_segments, normalized_segments;
  std::vector<tok::Word> words;
  im.added->split(text, false, split_special, raw_segments);
  for (const auto& raw : raw_segments) {
    if (raw.id) {
      ids.push_back(*raw.id);
      continue;
    }
    std::string piece(text.substr(raw.begin, raw.end - raw.begin));
    if (im.normalizer) im.normalizer->normalize(piece);
    if (piece.empty()) continue;
    im.added->split(piece, true, split_special, normalized_segments);
    for (const auto& seg : normalized_segments) {
      if (seg.id) {
        ids.push_back(*seg.id);
        continue;
      }
      words.clear();
      words.push_back(tok::Word{piece.substr(seg.begin, seg.end - seg.begin), raw.begin == 0 && seg.begin == 0});
      if (im.pre_tokenizer) im.pre_tokenizer->pre_tokenize(words);
      for (const auto& word : words) im.model->tokenize(word.text, ids);
    }
  }
  if (add_special_tokens) {
    if (im.post_processor) im.post_processor->process(ids);
    if (im.force_bos) ids.insert(ids.begin(), *im.bos_id);
    if (im.force_eos) ids.push_back(*im.eos_id);
  }
  return ids;
}

const std::string* Tokenizer::token_for_decode(int32_t id, bool skip_special_tokens) const {
  const tok::AddedToken* added = impl_->added->find_by_id(id);
  const std::string* token = added ? &added->decoded : impl_->model->id_to_token(id);
  if (token && skip_special_tokens && impl_->added->is_special_content(*token)) return nullptr;
  return token;
}

std::string Tokenizer::decode_chunk(std::vector<std::string> tokens, bool at_sequence_start, bool* open_tail) const {
  return tok::decode_tokens(impl_->decoder.get(), std::move(tokens), at_sequence_start, open_tail);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (const std::string* t = token_for_decode(id, skip_special_tokens)) tokens.push_back(*t);
  }
  return decode_chunk(std::move(tokens), true, nullptr);
}

int32_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto id = impl_->added->token_to_id(token)) return id;
  return impl_->model->token_to_id(token);
}

std::string Tokenizer::id_to_token(int32_t id) const {
  if (const tok::AddedToken* added = impl_->added->find_by_id(id)) return added->decoded;
  const std::string* t = impl_->model->id_to_token(id);
  return t ? *t : std::string();
}

bool Tokenizer::is_special(int32_t id) const {
  const tok::AddedToken* added = impl_->added->find_by_id(id);
  return added && added->special;
}

std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos_id; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos_id; }
std::string Tokenizer::bos_token() const { return impl_->bos_token; }
std::string Tokenizer::eos_token() const { return impl_->eos_token; }

}  // namespace sy
