// Histogram with fixed upper bounds, in the shape Prometheus exposes (cumulative buckets,
// sum, count). Used for TTFT, inter-token latency and request latency.
#pragma once

#include <cstdint>
#include <vector>

namespace sy {

class Histogram {
 public:
  Histogram() = default;
  explicit Histogram(std::vector<double> upper_bounds)
      : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

  void observe(double v) {
    size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += v;
    ++count_;
  }
  const std::vector<double>& upper_bounds() const { return bounds_; }
  // Non-cumulative counts; the last entry is the +Inf bucket.
  const std::vector<uint64_t>& bucket_counts() const { return counts_; }
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

  // Seconds buckets for latencies from sub-millisecond steps to minute-long requests.
  static std::vector<double> latency_buckets() {
    return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5,
            0.75,  1.0,    2.5,   5.0,  10.0,  30.0, 60.0};
  }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

}  // namespace sy
