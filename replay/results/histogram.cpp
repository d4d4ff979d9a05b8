#include "results/histogram.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace rcvq {
namespace {
constexpr int kSubBucketHalfCountMagnitude = 10;  // log2(2048) - 1
constexpr int64_t kSubBucketHalfCount = 1024;
constexpr int64_t kSubBucketMask = Histogram::kSubBucketCount - 1;

// log2 of the width of the value range that shares `value`'s counter.
int bucket_of(int64_t value) {
  const int pow2_ceiling = 64 - __builtin_clzll(uint64_t(value) | kSubBucketMask);
  return pow2_ceiling - (kSubBucketHalfCountMagnitude + 1);
}

int64_t lowest_equivalent(int64_t value) {
  const int bucket = bucket_of(value);
  return (value >> bucket) << bucket;
}

int64_t equivalent_range(int64_t value) { return int64_t(1) << bucket_of(value); }

int64_t highest_equivalent(int64_t value) { return lowest_equivalent(value) + equivalent_range(value) - 1; }

int64_t median_equivalent(int64_t value) { return lowest_equivalent(value) + equivalent_range(value) / 2; }

// `x` with `decimals` fraction digits the way HdrHistogram's .hgrm writers round it (Java's
// Formatter, JavaScript's Intl.NumberFormat): the shortest decimal that reads back as x,
// rounded half up. printf rounds the exact binary value instead, so a level of
// 0.9997802734375 (binary 0.99978027343749997...) would print ...437, not ...438.
std::string fixed_like_hdr_histogram(double x, int decimals) {
  char buf[40];
  const char* end = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific).ptr;
  const std::string_view text(buf, size_t(end - buf));
  const bool negative = text[0] == '-';
  const size_t exponent_at = text.find('e');
  std::string digits;  // x = 0.<digits> * 10^point
  for (char c : text.substr(negative, exponent_at - negative))
    if (c != '.') digits += c;
  const int point = std::stoi(std::string(text.substr(exponent_at + 1))) + 1;
  const int kept = point + decimals;
  std::string scaled = kept > 0 ? digits.substr(0, size_t(kept)) : "";  // x * 10^decimals, truncated
  scaled.append(size_t(std::max(0, kept - int(scaled.size()))), '0');
  if (kept >= 0 && size_t(kept) < digits.size() && digits[size_t(kept)] >= '5') {
    size_t i = scaled.size();
    while (i > 0 && scaled[i - 1] == '9') scaled[--i] = '0';
    if (i == 0) scaled.insert(0, "1");
    else ++scaled[i - 1];
  }
  if (scaled.size() <= size_t(decimals)) scaled.insert(0, size_t(decimals) + 1 - scaled.size(), '0');
  const std::string whole = scaled.substr(0, scaled.size() - size_t(decimals));
  return (negative ? "-" : "") + whole + (decimals ? "." + scaled.substr(whole.size()) : "");
}
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
  const int bucket = bucket_of(value);
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
}

void Histogram::merge(const Histogram& other) {
  if (other.counts_.size() > counts_.size()) counts_.resize(other.counts_.size(), 0);
  for (size_t i = 0; i < other.counts_.size(); ++i) counts_[i] += other.counts_[i];
  bucket_count_ = std::max(bucket_count_, other.bucket_count_);
  total_ += other.total_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

Histogram::Sparse Histogram::sparse() const {
  Sparse state{{}, min(), max()};
  for (size_t i = 0; i < counts_.size(); ++i)
    if (counts_[i]) state.counts.emplace_back(i, counts_[i]);
  return state;
}

void Histogram::add_sparse(const Sparse& state) {
  uint64_t added = 0;
  for (const auto& [index, count] : state.counts) {
    if (index >= counts_.size()) throw std::out_of_range("histogram counter index out of range");
    counts_[index] += count;
    added += count;
  }
  if (added == 0) return;
  total_ += added;
  min_ = std::min(min_, state.min);
  max_ = std::max(max_, state.max);
}

double Histogram::mean() const {
  if (!total_) return 0;
  double sum = 0;
  for (size_t i = 0; i < counts_.size(); ++i)
    if (counts_[i]) sum += double(median_equivalent(value_at_index(i))) * double(counts_[i]);
  return sum / double(total_);
}

double Histogram::stddev() const {
  if (!total_) return 0;
  const double m = mean();
  double squared_deviations = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (!counts_[i]) continue;
    const double deviation = double(median_equivalent(value_at_index(i))) - m;
    squared_deviations += deviation * deviation * double(counts_[i]);
  }
  return std::sqrt(squared_deviations / double(total_));
}

int64_t Histogram::value_at_percentile(double p) const {
  if (!total_) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // The product can come out up to an ulp above a whole count (99.9% of 1000 is
  // 999.0000000000001); rounding that up would skip to the next sample.
  const double count_at_p = p / 100.0 * double(total_);
  const double ulp = count_at_p > 0 ? std::ldexp(1.0, std::ilogb(count_at_p) - 52) : 0;
  const uint64_t rank = std::max<uint64_t>(1, uint64_t(std::ceil(count_at_p - ulp)));
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return p == 0 ? value_at_index(i) : highest_equivalent(value_at_index(i));
  }
  return highest_equivalent(max_);
}

void Histogram::write_hgrm(std::ostream& out, double unit_ratio, int ticks_per_half_distance) const {
  fmt::print(out, "{:>12} {:>14} {:>10} {:>14}\n\n", "Value", "Percentile", "TotalCount",
             "1/(1-Percentile)");
  auto in_unit = [&](double value) { return fixed_like_hdr_histogram(value / unit_ratio, 3); };
  auto print_row = [&](size_t index, double level, uint64_t cumulative) {
    fmt::print(out, "{:>12} {} {:10d}", in_unit(double(highest_equivalent(value_at_index(index)))),
               fixed_like_hdr_histogram(level / 100, 12), cumulative);
    if (level < 100) fmt::print(out, " {:>14}", fixed_like_hdr_histogram(1 / (1 - level / 100), 2));
    out << '\n';
  };
  if (total_) {
    // HdrHistogram's percentile iteration: a row for each reporting level the cumulative
    // count reaches, the levels `ticks_per_half_distance` apart within every successive
    // half of the remaining distance to 100%. The row that first counts every sample
    // therefore shows the maximum's bucket, and a last row repeats it at 100%.
    double level = 0;
    uint64_t cumulative = 0;
    size_t index = 0;
    for (; index < counts_.size(); ++index) {
      if (!counts_[index]) continue;
      cumulative += counts_[index];
      const double reached = 100.0 * double(cumulative) / double(total_);
      while (reached >= level) {
        print_row(index, level, cumulative);
        const double ticks =
            ticks_per_half_distance * std::pow(2.0, std::floor(std::log2(100.0 / (100.0 - level))) + 1);
        level += 100.0 / ticks;
        if (cumulative == total_) break;
      }
      if (cumulative == total_) break;
    }
    print_row(index, 100.0, total_);
  }
  fmt::print(out, "#[Mean    = {:>12}, StdDeviation   = {:>12}]\n", in_unit(mean()), in_unit(stddev()));
  // The exact max, as hdr-histogram-js prints it (Java's HdrHistogram prints the max's
  // highest equivalent value here).
  fmt::print(out, "#[Max     = {:>12}, Total count    = {:12d}]\n", in_unit(double(max())), total_);
  fmt::print(out, "#[Buckets = {:12d}, SubBuckets     = {:12d}]\n", bucket_count_, kSubBucketCount);
}

}  // namespace rcvq
