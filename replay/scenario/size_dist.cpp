#include <algorithm>

#include "scenario/scenario.hpp"

namespace rcvq {

uint64_t SizeDist::draw(std::mt19937_64& rng, uint64_t index) const {
  switch (kind) {
    case Kind::Fixed: return fixed;
    case Kind::Uniform: return std::uniform_int_distribution<uint64_t>(min, max)(rng);
    case Kind::List: return list[index % list.size()];
  }
  return 0;
}

uint64_t SizeDist::largest() const {
  switch (kind) {
    case Kind::Fixed: return fixed;
    case Kind::Uniform: return max;
    case Kind::List: return *std::max_element(list.begin(), list.end());
  }
  return 0;
}

}  // namespace rcvq
