#!/usr/bin/env bash
# in_test_kernel.sh SOURCE_DIR TEST_BINARY GTEST_FILTER: runs the hook tests inside the
# AutoLOWAT test kernel. The kernel is $RCVQ_TEST_KERNEL (tools/test sets it) or what
# tools/kernel/build gives (cached; a cold build takes 16-35 min).
set -euo pipefail
src=$1 binary=$2 filter=$3
kernel=${RCVQ_TEST_KERNEL:-$("$src/tools/kernel/build" | tail -1)}
exec "$src/tools/vmrun" --kernel "$kernel" --timeout 840 --env RCVQ_REQUIRE_HOOK=1 -- \
  "$binary" --gtest_filter="$filter" --gtest_color=no
