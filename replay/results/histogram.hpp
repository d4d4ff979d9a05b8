#pragma once
#include <cstdint>
#include <iosfwd>
#include <utility>
#include <vector>

namespace rcvq {

// Log-linear histogram with HdrHistogram's bucket layout (lowest discernible value 1,
// 3 significant digits, 2048 sub-buckets) whose percentiles, mean, standard deviation
// and .hgrm text are what HdrHistogram computes for the same values (checked against
// hdr-histogram-js in tests/data/hdr_reference). Values are non-negative integers (ns here).
class Histogram {
 public:
  explicit Histogram(int64_t highest_trackable = int64_t(1) << 40);

  void record(int64_t value);  // negative values clamp to 0, huge ones to the top
  void merge(const Histogram& other);

  uint64_t count() const { return total_; }
  // The exact smallest and largest values recorded, not bucket bounds.
  int64_t min() const { return total_ ? min_ : 0; }
  int64_t max() const { return total_ ? max_ : 0; }
  // Over each bucket's median equivalent value, as HdrHistogram's getMean/getStdDeviation.
  double mean() const;
  double stddev() const;
  // HdrHistogram's getValueAtPercentile: the highest value equivalent to the bucket holding
  // the ceil(p% of count)-th sample (at least the first); the lowest equivalent value at
  // p = 0. It may exceed max(), which is exact.
  int64_t value_at_percentile(double p) const;

  // HdrHistogram's percentile distribution text (.hgrm), values divided by `unit_ratio`.
  void write_hgrm(std::ostream& out, double unit_ratio, int ticks_per_half_distance = 5) const;

  // The recorded state as (counter index, count) pairs of the non-empty counters, with
  // the exact min and max: what another process needs to rebuild this histogram.
  struct Sparse {
    std::vector<std::pair<uint64_t, uint64_t>> counts;
    int64_t min = 0, max = 0;
  };
  Sparse sparse() const;
  // Throws std::out_of_range for an index this layout does not have.
  void add_sparse(const Sparse& state);

  int bucket_count() const { return bucket_count_; }
  static constexpr int kSubBucketCount = 2048;

 private:
  size_t index_of(int64_t value) const;
  int64_t value_at_index(size_t index) const;

  int bucket_count_;
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  int64_t min_ = INT64_MAX, max_ = 0;
};

}  // namespace rcvq
