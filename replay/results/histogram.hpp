#pragma once
#include <cstdint>
#include <iosfwd>
#include <vector>

namespace rcvq {

// Log-linear histogram with HdrHistogram's bucket layout (3 significant digits,
// 2048 sub-buckets), so percentiles are within 0.1% and .hgrm output matches what
// HdrHistogram's own tools read. Values are non-negative integers (ns here).
class Histogram {
 public:
  explicit Histogram(int64_t highest_trackable = int64_t(1) << 40);

  void record(int64_t value);  // negative values clamp to 0, huge ones to the top
  void merge(const Histogram& other);

  uint64_t count() const { return total_; }
  int64_t min() const { return total_ ? min_ : 0; }
  int64_t max() const { return total_ ? max_ : 0; }
  double mean() const;
  double stddev() const;
  // Value at percentile p in [0, 100]: the highest value equivalent to the bucket that
  // holds the p-th percentile sample (HdrHistogram's getValueAtPercentile).
  int64_t value_at_percentile(double p) const;

  // HdrHistogram's percentile distribution text (.hgrm), values divided by `unit_ratio`.
  void write_hgrm(std::ostream& out, double unit_ratio, int ticks_per_half_distance = 5) const;

  int bucket_count() const { return bucket_count_; }
  static constexpr int kSubBucketCount = 2048;

 private:
  size_t index_of(int64_t value) const;
  int64_t value_at_index(size_t index) const;
  int64_t highest_equivalent(int64_t value) const;

  int bucket_count_;
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  int64_t min_ = INT64_MAX, max_ = 0;
  double sum_ = 0, sum_sq_ = 0;
};

}  // namespace rcvq
