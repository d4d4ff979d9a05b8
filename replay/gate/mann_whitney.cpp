#include "gate/mann_whitney.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace rcvq {
namespace {

// Number of arrangements of m x-values and n y-values giving each U in [0, m*n]:
// the coefficients of the Gaussian binomial [m+n choose m]. Built row by row from
// f(i, j, u) = f(i-1, j, u-j) + f(i, j-1, u): the largest value either is an x
// (beating all j y's) or a y.
std::vector<double> u_distribution(size_t m, size_t n) {
  // row[j] holds f(i, j, .) for the current i.
  std::vector<std::vector<double>> row(n + 1);
  for (size_t j = 0; j <= n; ++j) row[j] = {1.0};  // i = 0: only U = 0
  for (size_t i = 1; i <= m; ++i) {
    std::vector<std::vector<double>> next(n + 1);
    next[0] = {1.0};  // j = 0: only U = 0
    for (size_t j = 1; j <= n; ++j) {
      std::vector<double> f(i * j + 1, 0.0);
      const std::vector<double>& x_last = row[j];       // f(i-1, j, .)
      const std::vector<double>& y_last = next[j - 1];  // f(i, j-1, .)
      for (size_t u = 0; u < x_last.size(); ++u) f[u + j] += x_last[u];
      for (size_t u = 0; u < y_last.size(); ++u) f[u] += y_last[u];
      next[j] = std::move(f);
    }
    row = std::move(next);
  }
  return row[n];
}

double normal_sf(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

}  // namespace

MannWhitneyResult mann_whitney_u(std::span<const double> x, std::span<const double> y,
                                 MannWhitneyMethod method) {
  if (x.empty() || y.empty()) throw std::invalid_argument("Mann-Whitney U needs two non-empty samples");
  const size_t n1 = x.size(), n2 = y.size(), n = n1 + n2;

  // Midranks over the pooled sample; tie groups feed the variance correction.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  auto value = [&](size_t k) { return k < n1 ? x[k] : y[k - n1]; };
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return value(a) < value(b); });
  double rank_sum_x = 0, tie_term = 0;
  bool ties = false;
  for (size_t start = 0; start < n;) {
    size_t end = start + 1;
    while (end < n && value(order[end]) == value(order[start])) ++end;
    const double t = double(end - start);
    const double midrank = (double(start + 1) + double(end)) / 2.0;
    for (size_t k = start; k < end; ++k)
      if (order[k] < n1) rank_sum_x += midrank;
    if (end - start > 1) {
      ties = true;
      tie_term += t * t * t - t;
    }
    start = end;
  }

  MannWhitneyResult r;
  r.ties = ties;
  r.u_x = rank_sum_x - double(n1) * double(n1 + 1) / 2.0;
  const double u_max = std::max(r.u_x, double(n1) * double(n2) - r.u_x);

  if (method == MannWhitneyMethod::Auto)
    method = !ties && n <= kMannWhitneyExactLimit ? MannWhitneyMethod::Exact : MannWhitneyMethod::Asymptotic;
  if (method == MannWhitneyMethod::Exact) {
    if (ties) throw std::invalid_argument("the exact Mann-Whitney distribution does not hold with ties");
    const std::vector<double> counts = u_distribution(n1, n2);
    const double total = std::accumulate(counts.begin(), counts.end(), 0.0);
    double upper = 0;  // arrangements with U >= u_max
    for (size_t u = size_t(u_max); u < counts.size(); ++u) upper += counts[u];
    r.p_value = std::min(1.0, 2.0 * upper / total);
    r.exact = true;
    return r;
  }

  const double mean = double(n1) * double(n2) / 2.0;
  const double variance =
      double(n1) * double(n2) / 12.0 * (double(n + 1) - tie_term / (double(n) * double(n - 1)));
  if (variance <= 0) {  // every value equal: no evidence of a difference
    r.p_value = 1.0;
    return r;
  }
  const double z = (u_max - mean - 0.5) / std::sqrt(variance);
  r.p_value = std::min(1.0, 2.0 * normal_sf(z));
  return r;
}

}  // namespace rcvq
