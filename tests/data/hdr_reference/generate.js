// Writes HdrHistogram reference outputs (hdr-histogram-js) for fixed value sets, so the
// unit tests can hold rcvq::Histogram to the reference's percentiles and .hgrm text.
// Usage: see README.md in this folder.
"use strict";

const fs = require("fs");
const path = require("path");
const hdr = require("hdr-histogram-js");

// rcvq::Histogram's configuration: values are ns from 1, tracked up to 2^40 with 3
// significant digits (2048 sub-buckets); .hgrm files are written in µs with 5 ticks per
// half distance.
const kHistogram = {
  lowestDiscernibleValue: 1,
  highestTrackableValue: 2 ** 40,
  numberOfSignificantValueDigits: 3,
  bitBucketSize: 64,
  autoResize: false,
  useWebAssembly: false,
};
const kNsPerUs = 1000;
const kTicksPerHalfDistance = 5;

// Marsaglia's xorshift32: a fixed seed gives the same values on every machine. Seeds are
// spread by a golden-ratio multiply because small ones start with long runs of tiny draws.
function generator(seed) {
  let state = Math.imul(seed, 0x9e3779b9) >>> 0;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}

// Log-uniform between 10^lo and 10^hi ns.
const logUniform = (random, lo, hi) => Math.floor(10 ** (lo + random() * (hi - lo)));

// 1 ns .. 10 s, every magnitude equally likely.
const acrossMagnitudes = (n, seed) => {
  const random = generator(seed);
  return Array.from({ length: n }, () => logUniform(random, 0, 10));
};

// Frame latencies as a receiver sees them: most 20-200 µs, a tail of 1-5 ms, and a few
// zeros, which the histogram's first bucket must hold like any other.
const latencyLike = (n, seed) => {
  const random = generator(seed);
  return Array.from({ length: n }, () => {
    const kind = random();
    if (kind < 0.01) return 0;
    if (kind < 0.9) return logUniform(random, 4.3, 5.3);
    return logUniform(random, 6, 6.7);
  });
};

const kSets = [
  { name: "n1", values: acrossMagnitudes(1, 1) },
  { name: "n3", values: acrossMagnitudes(3, 3) },
  { name: "n7", values: acrossMagnitudes(7, 7) },
  { name: "n420", values: latencyLike(420, 420) },
  { name: "n10007", values: acrossMagnitudes(10007, 10007) },
  { name: "n10007_latency", values: latencyLike(10007, 10008) },
];

const outDir = process.argv[2];
if (!outDir) {
  console.error("usage: node generate.js OUTPUT_DIR");
  process.exit(2);
}
for (const set of kSets) {
  const histogram = hdr.build(kHistogram);
  for (const v of set.values) histogram.recordValue(v);
  const percentiles = {
    count: histogram.totalCount,
    p50: histogram.getValueAtPercentile(50),
    p90: histogram.getValueAtPercentile(90),
    p99: histogram.getValueAtPercentile(99),
    p999: histogram.getValueAtPercentile(99.9),
    p100: histogram.getValueAtPercentile(100),
    max: histogram.maxValue,
  };
  fs.writeFileSync(path.join(outDir, `${set.name}.values`), set.values.join("\n") + "\n");
  fs.writeFileSync(path.join(outDir, `${set.name}.json`), JSON.stringify(percentiles, null, 2) + "\n");
  fs.writeFileSync(path.join(outDir, `${set.name}.hgrm`),
                   histogram.outputPercentileDistribution(kTicksPerHalfDistance, kNsPerUs));
}
