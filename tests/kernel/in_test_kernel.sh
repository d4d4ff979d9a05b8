#!/usr/bin/env bash
# in_test_kernel.sh SOURCE_DIR TEST_BINARY GTEST_FILTER VM_TIMEOUT_S: runs the hook tests
# inside the AutoLOWAT test kernel. VM_TIMEOUT_S stays below ctest's TIMEOUT, so a hung
# guest is stopped by vmrun (which removes what it made) rather than killed by ctest.
# The kernel is $RCVQ_TEST_KERNEL (tools/test sets it) or what tools/kernel/build
# gives (cached; a cold build takes 16-35 min).
set -euo pipefail
src=$1 binary=$2 filter=$3 vm_timeout=$4
kernel=${RCVQ_TEST_KERNEL:-$("$src/tools/kernel/build" | tail -1)}
exec "$src/tools/vmrun" --kernel "$kernel" --timeout "$vm_timeout" --env RCVQ_REQUIRE_HOOK=1 -- \
  "$binary" --gtest_filter="$filter" --gtest_color=no
