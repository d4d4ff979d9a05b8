#include "results/histogram.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <cmath>
#include <ostream>

namespace rcvq {
namespace {
constexpr int kSubBucketHalfCountMagnitude = 10;  // log2(2048) - 1
constexpr int64_t kSubBucketHalfCount = 1024;
constexpr int64_t kSubBucketMask = Histogram::kSubBucketCount - 1;
}  // namespace

Histogram::Histogram(int64_t highest_trackable) {
  int buckets = 1;
  for (int64_t smallest_untrackable = kSubBucketCount; smallest_untrackable <= highest_trackable;
       smallest_untrackable <<= 1)
    ++buckets;
  bucket_count_ = buckets;
  counts_.assign(size_t(buckets + 1) * kSubBucketHalfCount, 0);
}

size_t Histogram::index_of(int64_t value) const {
  const int pow2_ceiling = 64 - __builtin_clzll(uint64_t(value) | kSubBucketMask);
  const int bucket = pow2_ceiling - (kSubBucketHalfCountMagnitude + 1);
  const int64_t sub = value >> bucket;
  return size_t(((int64_t(bucket) + 1) << kSubBucketHalfCountMagnitude) + (sub - kSubBucketHalfCount));
}

int64_t Histogram::value_at_index(size_t index) const {
  int bucket = int(index >> kSubBucketHalfCountMagnitude) - 1;
  int64_t sub = int64_t(index & (kSubBucketHalfCount - 1)) + kSubBucketHalfCount;
  if (bucket < 0) {
    sub -= kSubBucketHalfCount;
    bucket = 0;
  }
  return sub << bucket;
}

int64_t Histogram::highest_equivalent(int64_t value) const {
  const int pow2_ceiling = 64 - __builtin_clzll(uint64_t(value) | kSubBucketMask);
  const int bucket = pow2_ceiling - (kSubBucketHalfCountMagnitude + 1);
  const int64_t sub = value >> bucket;
  const int adjusted_bucket = sub >= kSubBucketCount ? bucket + 1 : bucket;
  const int64_t lowest = sub << bucket;
  return lowest + (int64_t(1) << adjusted_bucket) - 1;
}

void Histogram::record(int64_t value) {
  value = std::max<int64_t>(value, 0);
  size_t index = index_of(value);
  if (index >= counts_.size()) {
    index = counts_.size() - 1;
    value = value_at_index(index);
  }
  ++counts_[index];
  ++total_;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += double(value);
  sum_sq_ += double(value) * double(value);
}

void Histogram::merge(const Histogram& other) {
  if (other.counts_.size() > counts_.size()) counts_.resize(other.counts_.size(), 0);
  for (size_t i = 0; i < other.counts_.size(); ++i) counts_[i] += other.counts_[i];
  bucket_count_ = std::max(bucket_count_, other.bucket_count_);
  total_ += other.total_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
  sum_sq_ += other.sum_sq_;
}

double Histogram::mean() const { return total_ ? sum_ / double(total_) : 0; }

double Histogram::stddev() const {
  if (!total_) return 0;
  const double m = mean();
  return std::sqrt(std::max(0.0, sum_sq_ / double(total_) - m * m));
}

int64_t Histogram::value_at_percentile(double p) const {
  if (!total_) return 0;
  p = std::clamp(p, 0.0, 100.0);
  const uint64_t wanted = std::max<uint64_t>(1, uint64_t(std::llround(p / 100.0 * double(total_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= wanted) return std::min(highest_equivalent(value_at_index(i)), max_);
  }
  return max_;
}

void Histogram::write_hgrm(std::ostream& out, double unit_ratio, int ticks_per_half_distance) const {
  fmt::print(out, "{:>12} {:>14} {:>10} {:>14}\n\n", "Value", "Percentile", "TotalCount",
             "1/(1-Percentile)");
  auto count_at_or_below = [&](int64_t value) {
    uint64_t n = 0;
    for (size_t i = 0; i < counts_.size() && value_at_index(i) <= value; ++i) n += counts_[i];
    return n;
  };
  if (total_) {
    // HdrHistogram's percentile iteration: reporting ticks double every time the
    // remaining distance to 100% halves.
    double level = 0;
    while (true) {
      const int64_t value = value_at_percentile(level);
      const uint64_t cumulative = count_at_or_below(value);
      if (cumulative >= total_) break;
      fmt::print(out, "{:12.3f} {:1.12f} {:10d} {:14.2f}\n", double(value) / unit_ratio, level / 100.0,
                 cumulative, 1.0 / (1.0 - level / 100.0));
      const double ticks = ticks_per_half_distance *
                           std::pow(2.0, std::floor(std::log2(100.0 / (100.0 - level))) + 1);
      level += 100.0 / ticks;
    }
    fmt::print(out, "{:12.3f} {:1.12f} {:10d}\n", double(max_) / unit_ratio, 1.0, total_);
  }
  fmt::print(out, "#[Mean    = {:12.3f}, StdDeviation   = {:12.3f}]\n", mean() / unit_ratio,
             stddev() / unit_ratio);
  fmt::print(out, "#[Max     = {:12.3f}, Total count    = {:12d}]\n", double(max()) / unit_ratio, total_);
  fmt::print(out, "#[Buckets = {:12d}, SubBuckets     = {:12d}]\n", bucket_count_, kSubBucketCount);
}

}  // namespace rcvq
