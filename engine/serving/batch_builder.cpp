#include "engine/serving/batch_builder.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace sy {

ForwardBatch build_forward_batch(const std::vector<ScheduledSequence>& scheduled,
                                 int32_t block_size) {
  ForwardBatch b;
  int32_t max_blocks = 0;
  for (const auto& s : scheduled)
    max_blocks = std::max(max_blocks, static_cast<int32_t>(s.seq->block_table.size()));
  b.max_blocks_per_seq = max_blocks;
  b.block_tables.assign(scheduled.size() * static_cast<size_t>(max_blocks), 0);
  b.query_start.push_back(0);
  for (size_t i = 0; i < scheduled.size(); ++i) {
    const Sequence& seq = *scheduled[i].seq;
    const int32_t start = seq.num_computed_tokens;
    const int32_t end = start + scheduled[i].num_new_tokens;
    if (static_cast<int64_t>(seq.block_table.size()) * block_size < end)
      throw std::logic_error("build_forward_batch: sequence " + std::to_string(seq.id) +
                             " has blocks for " + std::to_string(seq.block_table.size() * block_size) +
                             " tokens, needs " + std::to_string(end));
    for (int32_t p = start; p < end; ++p) {
      b.token_ids.push_back(seq.token_ids[p]);
      b.positions.push_back(p);
      b.slot_mapping.push_back(int64_t(seq.block_table[p / block_size]) * block_size + p % block_size);
    }
    b.query_start.push_back(static_cast<int32_t>(b.token_ids.size()));
    b.seq_lens.push_back(end);
    std::copy(seq.block_table.begin(), seq.block_table.end(),
              b.block_tables.begin() + static_cast<int64_t>(i) * max_blocks);
    if (scheduled[i].samples()) b.logits_indices.push_back(b.query_start.back() - 1);
  }
  return b;
}

}  // namespace sy
