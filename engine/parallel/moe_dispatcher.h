// MoeDispatcher: the hook through which ModelRunner hands a MoE layer to expert parallelism.
// Position in the flow: runner -> [MoE block: route -> dispatch -> experts -> combine] -> runner.
// Without a dispatcher the runner calls run_moe_block (all experts local); with one, the
// dispatcher sends (token, expert) rows to the ranks holding the experts and back
// (engine/parallel/ep_moe.h), and is also called when this rank has no tokens this step,
// because its peers need it in the collectives.
#pragma once

#include "engine/model/weights.h"
#include "engine/moe/moe_block.h"

namespace sy {

class ScratchArena;

class MoeDispatcher {
 public:
  virtual ~MoeDispatcher() = default;
  // MoE layer number `moe_index` (0-based over the model's MoE layers) for this rank's tokens;
  // a.num_tokens may be 0. Fills a.out, a.topk_ids and a.expert_offsets (this rank's routed
  // tokens per logical expert) as run_moe_block does.
  virtual void run(int moe_index, const MoeWeights& w, const MoeBlockArgs& a, ScratchArena& scratch) = 0;
};

}  // namespace sy
