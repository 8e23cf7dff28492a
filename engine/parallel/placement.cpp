// Expert placement policies (engine/parallel/placement.h).
#include "engine/parallel/placement.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace sy {
namespace {

void check_shape(int num_experts, int num_ranks) {
  if (num_experts <= 0) throw std::invalid_argument("placement: num_experts must be positive");
  if (num_ranks <= 0) throw std::invalid_argument("placement: num_ranks must be positive");
  if (num_ranks > num_experts)
    throw std::invalid_argument("placement: " + std::to_string(num_ranks) + " ranks for only " +
                                std::to_string(num_experts) + " experts leaves a rank without experts");
}

// Fills expert_ranks from rank_experts (sorting both).
ExpertPlacement finish(int num_experts, std::vector<std::vector<int32_t>> rank_experts) {
  ExpertPlacement p;
  p.num_experts = num_experts;
  p.num_ranks = int(rank_experts.size());
  p.expert_ranks.assign(size_t(num_experts), {});
  for (auto& slots : rank_experts) std::sort(slots.begin(), slots.end());
  for (int r = 0; r < p.num_ranks; ++r)
    for (int32_t e : rank_experts[size_t(r)]) p.expert_ranks[size_t(e)].push_back(r);
  p.rank_experts = std::move(rank_experts);
  p.validate();
  return p;
}

}  // namespace

int ExpertPlacement::max_slots() const {
  int m = 0;
  for (const auto& s : rank_experts) m = std::max(m, int(s.size()));
  return m;
}

int ExpertPlacement::total_slots() const {
  int n = 0;
  for (const auto& s : rank_experts) n += int(s.size());
  return n;
}

int ExpertPlacement::slot_of(int rank, int expert) const {
  const auto& s = rank_experts[size_t(rank)];
  auto it = std::lower_bound(s.begin(), s.end(), expert);
  return it != s.end() && *it == expert ? int(it - s.begin()) : -1;
}

void ExpertPlacement::validate() const {
  if (int(rank_experts.size()) != num_ranks || int(expert_ranks.size()) != num_experts)
    throw std::logic_error("placement: views sized for a different number of ranks or experts");
  for (int e = 0; e < num_experts; ++e)
    if (expert_ranks[size_t(e)].empty())
      throw std::logic_error("placement: expert " + std::to_string(e) + " is held by no rank");
  for (int r = 0; r < num_ranks; ++r) {
    const auto& s = rank_experts[size_t(r)];
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] < 0 || s[i] >= num_experts)
        throw std::logic_error("placement: rank " + std::to_string(r) + " holds unknown expert " +
                               std::to_string(s[i]));
      if (i > 0 && s[i] <= s[i - 1])
        throw std::logic_error("placement: rank " + std::to_string(r) + " slots not strictly ascending at expert " +
                               std::to_string(s[i]));
      const auto& holders = expert_ranks[size_t(s[i])];
      if (std::find(holders.begin(), holders.end(), r) == holders.end())
        throw std::logic_error("placement: expert " + std::to_string(s[i]) + " on rank " + std::to_string(r) +
                               " is missing from its replica list");
    }
  }
  if (total_slots() != std::accumulate(expert_ranks.begin(), expert_ranks.end(), 0,
                                       [](int n, const auto& v) { return n + int(v.size()); }))
    throw std::logic_error("placement: replica lists and rank slots disagree");
}

std::string ExpertPlacement::describe() const {
  std::string s;
  for (int r = 0; r < num_ranks; ++r) {
    s += r ? " | rank " : "rank ";
    s += std::to_string(r);
    s += ":";
    for (int32_t e : rank_experts[size_t(r)]) {
      s += ' ';
      s += std::to_string(e);
    }
  }
  const int extra = total_slots() - num_experts;
  if (extra > 0) {
    s += " (+";
    s += std::to_string(extra);
    s += " replicas)";
  }
  return s;
}

ExpertPlacement contiguous_placement(int num_experts, int num_ranks) {
  check_shape(num_experts, num_ranks);
  std::vector<std::vector<int32_t>> re(static_cast<size_t>(num_ranks));
  // The first E % R ranks take one extra expert.
  for (int r = 0, e = 0; r < num_ranks; ++r) {
    const int n = num_experts / num_ranks + (r < num_experts % num_ranks ? 1 : 0);
    for (int i = 0; i < n; ++i) re[size_t(r)].push_back(e++);
  }
  return finish(num_experts, std::move(re));
}

ExpertPlacement round_robin_placement(int num_experts, int num_ranks) {
  check_shape(num_experts, num_ranks);
  std::vector<std::vector<int32_t>> re(static_cast<size_t>(num_ranks));
  for (int e = 0; e < num_experts; ++e) re[size_t(e % num_ranks)].push_back(e);
  return finish(num_experts, std::move(re));
}

ExpertPlacement balanced_placement(std::span<const uint64_t> expert_load, int num_ranks, int num_redundant) {
  const int E = int(expert_load.size());
  check_shape(E, num_ranks);
  if (num_redundant < 0) throw std::invalid_argument("placement: num_redundant must be >= 0");
  num_redundant = std::min(num_redundant, E * (num_ranks - 1));  // at most one copy per rank

  // 1. Replicas: each extra slot to the expert with the largest load per replica (ties: lower id).
  std::vector<int> replicas(size_t(E), 1);
  for (int i = 0; i < num_redundant; ++i) {
    int best = -1;
    double best_share = -1;
    for (int e = 0; e < E; ++e) {
      if (replicas[size_t(e)] >= num_ranks) continue;
      const double share = double(expert_load[size_t(e)]) / replicas[size_t(e)];
      if (share > best_share) best = e, best_share = share;
    }
    ++replicas[size_t(best)];
  }

  // 2. Packing: replicas with the most copies first (they need that many distinct ranks while
  //    every rank still has room), then heaviest share first; each goes to the least-loaded rank
  //    with a free slot and no copy of its expert yet.
  struct Item {
    int expert;
    int copies;
    double share;
  };
  std::vector<Item> items;
  for (int e = 0; e < E; ++e)
    for (int c = 0; c < replicas[size_t(e)]; ++c)
      items.push_back({e, replicas[size_t(e)], double(expert_load[size_t(e)]) / replicas[size_t(e)]});
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.copies != b.copies) return a.copies > b.copies;
    if (a.share != b.share) return a.share > b.share;
    return a.expert < b.expert;
  });
  const int total = int(items.size());
  const int capacity = (total + num_ranks - 1) / num_ranks;
  std::vector<std::vector<int32_t>> re(static_cast<size_t>(num_ranks));
  std::vector<double> load(size_t(num_ranks), 0.0);
  for (const Item& it : items) {
    int best = -1;
    for (int r = 0; r < num_ranks; ++r) {
      const auto& s = re[size_t(r)];
      if (int(s.size()) >= capacity || std::find(s.begin(), s.end(), it.expert) != s.end()) continue;
      if (best < 0 || load[size_t(r)] < load[size_t(best)] ||
          (load[size_t(r)] == load[size_t(best)] && s.size() < re[size_t(best)].size()))
        best = r;
    }
    if (best < 0)
      throw std::logic_error("placement: no rank has room for another copy of expert " + std::to_string(it.expert));
    re[size_t(best)].push_back(it.expert);
    load[size_t(best)] += it.share;
  }
  return finish(E, std::move(re));
}

std::vector<double> rank_loads(const ExpertPlacement& p, std::span<const uint64_t> expert_load) {
  if (int(expert_load.size()) != p.num_experts)
    throw std::invalid_argument("rank_loads: " + std::to_string(expert_load.size()) + " loads for " +
                                std::to_string(p.num_experts) + " experts");
  std::vector<double> load(size_t(p.num_ranks), 0.0);
  for (int e = 0; e < p.num_experts; ++e) {
    const auto& holders = p.expert_ranks[size_t(e)];
    for (int32_t r : holders) load[size_t(r)] += double(expert_load[size_t(e)]) / double(holders.size());
  }
  return load;
}

double load_imbalance(const ExpertPlacement& p, std::span<const uint64_t> expert_load) {
  std::vector<double> load = rank_loads(p, expert_load);
  const double total = std::accumulate(load.begin(), load.end(), 0.0);
  if (total <= 0) return 0.0;
  return *std::max_element(load.begin(), load.end()) / (total / double(load.size()));
}

}  // namespace sy
