#include "engine/tokenizer/bpe_model.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <mutex>
#include <shared_mutex>

#include "engine/tokenizer/utf8.h"

namespace sy::tok {

class BpeModel::MergeTable {
 public:
  struct Entry {
    uint64_t key = kEmpty;
    int32_t rank = 0;
    int32_t new_id = 0;
  };
  explicit MergeTable(size_t expected) {
    size_t capacity = 16;
    while (capacity < expected * 2) capacity <<= 1;
    entries_.resize(capacity);
    mask_ = capacity - 1;
  }
  static uint64_t key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  // Keeps the first (lowest-rank) merge of a pair, as HF does when a file repeats one.
  void insert(uint64_t k, int32_t rank, int32_t new_id) {
    for (size_t i = slot(k);; i = (i + 1) & mask_) {
      if (entries_[i].key == k) return;
      if (entries_[i].key == kEmpty) {
        entries_[i] = {k, rank, new_id};
        return;
      }
    }
  }
  const Entry* find(uint64_t k) const {
    for (size_t i = slot(k);; i = (i + 1) & mask_) {
      if (entries_[i].key == k) return &entries_[i];
      if (entries_[i].key == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  size_t slot(uint64_t k) const { return static_cast<size_t>((k * 0x9E3779B97F4A7C15ull) >> 20) & mask_; }
  std::vector<Entry> entries_;
  size_t mask_ = 0;
};

// Word -> ids for words shorter than kMaxWordBytes. Sharded so concurrent encodes rarely contend;
// stops inserting when full (a bounded memory cost, like HF's cache).
class BpeModel::WordCache {
 public:
  static constexpr size_t kMaxWordBytes = 256;
  static constexpr size_t kShards = 16;
  static constexpr size_t kEntriesPerShard = 8192;

  bool lookup(std::string_view word, std::vector<int32_t>& out) const {
    const Shard& shard = shards_[StringViewHash{}(word) % kShards];
    std::shared_lock lock(shard.mutex);
    auto it = shard.map.find(word);
    if (it == shard.map.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }
  void insert(std::string_view word, const int32_t* ids, size_t count) {
    Shard& shard = shards_[StringViewHash{}(word) % kShards];
    std::unique_lock lock(shard.mutex);
    if (shard.map.size() >= kEntriesPerShard) return;
    shard.map.emplace(std::string(word), std::vector<int32_t>(ids, ids + count));
  }

 private:
  struct Shard {
    mutable std::shared_mutex mutex;
    StringMap<std::vector<int32_t>> map;
  };
  std::array<Shard, kShards> shards_;
};

struct BpeModel::Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  int32_t len;  // bytes of the word covered; 0 marks a symbol merged into its left neighbour
};

BpeModel::BpeModel() = default;
BpeModel::~BpeModel() = default;

std::unique_ptr<BpeModel> BpeModel::from_json(const json& model, const std::string& path) {
  std::unique_ptr<BpeModel> bpe(new BpeModel());
  if (const json* dropout = find_member(model, "dropout")) {
    if (!dropout->is_number() || dropout->get<double>() != 0.0) {
      throw FormatError(child_path(path, "dropout"), "BPE dropout is not supported for inference");
    }
  }
  bpe->continuing_subword_prefix_ = optional_string(model, path, "continuing_subword_prefix", "");
  bpe->end_of_word_suffix_ = optional_string(model, path, "end_of_word_suffix", "");
  bpe->fuse_unk_ = optional_bool(model, path, "fuse_unk", false);
  bpe->byte_fallback_ = optional_bool(model, path, "byte_fallback", false);
  bpe->ignore_merges_ = optional_bool(model, path, "ignore_merges", false);

  const std::string vocab_path = child_path(path, "vocab");
  const json& vocab = require_member(model, path, "vocab");
  if (!vocab.is_object()) throw FormatError(vocab_path, "expected an object of token -> id");
  bpe->vocab_.reserve(vocab.size());
  int32_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const int32_t id = as_token_id(it.value(), child_path(vocab_path, it.key()));
    bpe->vocab_[it.key()] = id;
    max_id = std::max(max_id, id);
  }
  bpe->id_to_token_.assign(static_cast<size_t>(max_id + 1), std::string());
  bpe->id_present_.assign(static_cast<size_t>(max_id + 1), false);
  for (const auto& [token, id] : bpe->vocab_) {
    bpe->id_to_token_[id] = token;
    bpe->id_present_[id] = true;
  }

  if (const json* unk = find_member(model, "unk_token")) {
    const std::string unk_token = as_string(*unk, child_path(path, "unk_token"));
    auto it = bpe->vocab_.find(unk_token);
    if (it == bpe->vocab_.end()) throw FormatError(child_path(path, "unk_token"), "\"" + unk_token + "\" is not in the vocabulary");
    bpe->unk_id_ = it->second;
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    auto it = bpe->vocab_.find(std::string_view(name));
    bpe->byte_token_ids_[b] = it == bpe->vocab_.end() ? -1 : it->second;
  }

  const std::string merges_path = child_path(path, "merges");
  const json* merges_json = find_member(model, "merges");
  const size_t num_merges = merges_json ? as_array(*merges_json, merges_path).size() : 0;
  bpe->merges_ = std::make_unique<MergeTable>(num_merges);
  const size_t prefix_len = bpe->continuing_subword_prefix_.size();
  for (size_t rank = 0; rank < num_merges; ++rank) {
    const json& merge = (*merges_json)[rank];
    const std::string merge_path = index_path(merges_path, rank);
    std::string left, right;
    if (merge.is_string()) {
      const std::string line = merge.get<std::string>();
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        throw FormatError(merge_path, "expected \"left right\" separated by one space");
      }
      left = line.substr(0, space);
      right = line.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      throw FormatError(merge_path, "expected a string or a pair");
    }
    auto left_it = bpe->vocab_.find(left);
    auto right_it = bpe->vocab_.find(right);
    if (left_it == bpe->vocab_.end()) throw FormatError(merge_path, "token \"" + left + "\" is not in the vocabulary");
    if (right_it == bpe->vocab_.end()) throw FormatError(merge_path, "token \"" + right + "\" is not in the vocabulary");
    if (right.size() < prefix_len) throw FormatError(merge_path, "right token is shorter than continuing_subword_prefix");
    const std::string merged = left + right.substr(prefix_len);
    auto merged_it = bpe->vocab_.find(merged);
    if (merged_it == bpe->vocab_.end()) throw FormatError(merge_path, "merged token \"" + merged + "\" is not in the vocabulary");
    bpe->merges_->insert(MergeTable::key(left_it->second, right_it->second), static_cast<int32_t>(rank), merged_it->second);
  }
  bpe->cache_ = std::make_unique<WordCache>();
  return bpe;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_present_.size() || !id_present_[id]) return nullptr;
  return &id_to_token_[id];
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    auto it = vocab_.find(word);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() < WordCache::kMaxWordBytes;
  if (cacheable && cache_->lookup(word, out)) return;
  const size_t first = out.size();
  merge_word(word, out);
  if (cacheable) cache_->insert(word, out.data() + first, out.size() - first);
}

void BpeModel::initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const {
  const bool affixed = !continuing_subword_prefix_.empty() || !end_of_word_suffix_.empty();
  std::string affixed_piece;
  // An unknown run waits here until the next known character (HF flushes it only then, so byte
  // fallback tokens can come before it).
  int32_t pending_unk_len = 0;  // bytes of the pending unknown run; 0 when none
  auto add = [&symbols](int32_t id, int32_t len) {
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, -1, len});
    if (index > 0) symbols[index - 1].next = index;
  };
  size_t pos = 0;
  while (pos < word.size()) {
    const size_t begin = pos;
    pos += std::min(utf8_sequence_length(static_cast<unsigned char>(word[pos])), word.size() - pos);
    std::string_view piece = word.substr(begin, pos - begin);
    const auto byte_len = static_cast<int32_t>(piece.size());
    if (affixed) {
      affixed_piece.clear();
      if (begin > 0) affixed_piece += continuing_subword_prefix_;
      affixed_piece += piece;
      if (pos == word.size()) affixed_piece += end_of_word_suffix_;
      piece = affixed_piece;
    }
    auto it = vocab_.find(piece);
    if (it != vocab_.end()) {
      if (pending_unk_len > 0) {
        add(*unk_id_, pending_unk_len);
        pending_unk_len = 0;
      }
      add(it->second, byte_len);
      continue;
    }
    if (byte_fallback_) {
      const std::string_view bytes = word.substr(begin, pos - begin);
      const bool all_known = std::all_of(bytes.begin(), bytes.end(), [this](char c) {
        return byte_token_ids_[static_cast<unsigned char>(c)] >= 0;
      });
      if (all_known) {
        for (char c : bytes) add(byte_token_ids_[static_cast<unsigned char>(c)], 1);
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk_len > 0 && !fuse_unk_) {
        add(*unk_id_, pending_unk_len);
        pending_unk_len = 0;
      }
      pending_unk_len += byte_len;
    }
  }
  if (pending_unk_len > 0) add(*unk_id_, pending_unk_len);
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
  };
  // Min-heap on (rank, pos): the lowest-rank merge first, leftmost among equal ranks.
  auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> heap;
  symbols.clear();
  heap.clear();
  initial_symbols(word, symbols);

  auto push_candidate = [&](int32_t pos) {
    const Symbol& left = symbols[pos];
    if (left.next < 0) return;
    if (const auto* m = merges_->find(MergeTable::key(left.id, symbols[left.next].id))) {
      heap.push_back({m->rank, pos, m->new_id});
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_candidate(i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& current = symbols[top.pos];
    if (current.len == 0 || current.next < 0) continue;
    const int32_t next_pos = current.next;
    const Symbol right = symbols[next_pos];
    // Skip stale candidates: the pair at `pos` must still merge into the same token.
    const auto* m = merges_->find(MergeTable::key(current.id, right.id));
    if (!m || m->new_id != top.new_id) continue;
    current.id = top.new_id;
    current.len += right.len;
    current.next = right.next;
    symbols[next_pos].len = 0;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (current.prev >= 0) push_candidate(current.prev);
    push_candidate(top.pos);
  }
  for (const Symbol& s : symbols) {
    if (s.len > 0) out.push_back(s.id);
  }
}

}  // namespace sy::tok
