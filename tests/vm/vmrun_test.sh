#!/usr/bin/env bash
# Integration test of tools/vmrun against Debian's stock kernel (9p/virtio as modules,
# so it boots through vmrun's initramfs).
#   vmrun_test.sh StockKernel|Timeout|Probe|BadUsage [RCVQBENCH_BINARY]
# Exit 77 (ctest SKIP_RETURN_CODE) when this host cannot run it. RCVQ_VM_TEST_KERNEL
# picks another kernel.
set -euo pipefail

case_name=${1:?usage: vmrun_test.sh StockKernel|Timeout|Probe|BadUsage [RCVQBENCH_BINARY]}
rcvqbench=${2:-}
vmrun=$(cd "$(dirname "$0")/../.." && pwd)/tools/vmrun

skip() {
  echo "SKIP: $*"
  exit 77
}

failures=0
check() {
  # Usage: check DESCRIPTION COMMAND...
  local description=$1
  shift
  if "$@"; then
    echo "ok: $description"
  else
    echo "FAIL: $description"
    failures=$((failures + 1))
  fi
}

((EUID == 0)) || skip "needs root (9p passthrough shares)"
command -v qemu-system-x86_64 >/dev/null || skip "no qemu-system-x86_64 (tools/setup installs it)"
kernel=${RCVQ_VM_TEST_KERNEL:-$(printf '%s\n' /boot/vmlinuz-*-amd64 | sort -V | tail -n1)}
[[ -n $kernel && -r $kernel ]] || skip "no /boot/vmlinuz-*-amd64 (linux-image-amd64)"

scratch=$(mktemp -d /tmp/vmrun-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
# vmrun's temp dirs go here, so the test can tell that none is left behind and find
# qemu processes of its own by path.
export TMPDIR=$scratch/tmp
mkdir "$TMPDIR"

run_vmrun() {
  # Usage: run_vmrun VMRUN-ARGS... ; sets status, elapsed, and fills $scratch/stdout, stderr
  local started=$EPOCHREALTIME
  status=0
  "$vmrun" --kernel "$kernel" "$@" >"$scratch/stdout" 2>"$scratch/stderr" || status=$?
  elapsed=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  echo "--- vmrun exited $status after $elapsed s; stderr:"
  cat "$scratch/stderr"
  echo "---"
}

no_qemu_left() {
  ! pgrep -f -- "$TMPDIR" >/dev/null
}

no_temp_dir_left() {
  [[ -z $(ls -A "$TMPDIR") ]]
}

file_holds() {
  # Usage: file_holds FILE EXPECTED-CONTENT
  [[ -f $1 && $(cat "$1") == "$2" ]]
}

case $case_name in
  StockKernel)
    share=$scratch/results/nested # created by vmrun
    tricky_arg="it's \"quoted\", \$NOT_EXPANDED and	tabbed"
    # Any directory outside the guest's fresh /tmp, /run, ... will do as the working one.
    cwd=$(dirname "$vmrun")
    cd "$cwd"
    # shellcheck disable=SC2016 # expanded by the guest's shell
    run_vmrun --share "$share" --env GREETING='hello world' -- sh -c '
      echo "accel=$RCVQBENCH_VM_ACCEL kernel=$RCVQBENCH_VM_KERNEL"
      echo "cwd=$(pwd) home=$HOME greeting=$GREETING"
      echo "to stderr" >&2
      printf "%s" "$1" >"$2/written"
      mkdir -p /opt/vmrun-test || exit 9 # the overlay makes the read-only root writable
      exit 3' sh "$tricky_arg" "$share"
    check "exit code is the command's (3)" test "$status" -eq 3
    check "stdout carries the command's output" file_holds "$scratch/stdout" \
      "$(printf 'accel=%s kernel=%s\ncwd=%s home=/root greeting=hello world' \
        "$(sed -n 's/^vmrun: accel=\([a-z]*\).*/\1/p' "$scratch/stderr")" "$kernel" "$cwd")"
    check "stderr carries the command's stderr" grep -qx "to stderr" "$scratch/stderr"
    check "stderr says which accelerator" grep -Eq '^vmrun: accel=(tcg|kvm) \(' "$scratch/stderr"
    check "stderr reports the guest's wall time" grep -Eq '^vmrun: guest ran [0-9]+\.[0-9] s$' "$scratch/stderr"
    check "the share received the file, argument intact" file_holds "$share/written" "$tricky_arg"
    check "the guest's writes to the root stayed in the guest" test ! -e /opt/vmrun-test
    ;;
  Timeout)
    run_vmrun --timeout 20 -- sleep 1000
    check "exit code is 124" test "$status" -eq 124
    check "stopped near the deadline" awk -v t="$elapsed" 'BEGIN { exit !(t >= 19 && t < 40) }'
    check "stderr says it timed out" grep -q '^vmrun: timed out after 20 s' "$scratch/stderr"
    ;;
  Probe)
    [[ -x $rcvqbench ]] || skip "no rcvqbench binary given"
    run_vmrun -- "$rcvqbench" probe
    check "rcvqbench probe ran to completion in the guest (exit 0)" test "$status" -eq 0
    check "probe listed capabilities" test -s "$scratch/stdout"
    echo "--- probe's stdout:"
    cat "$scratch/stdout"
    ;;
  BadUsage)
    # Each is refused before any VM starts.
    run_vmrun --
    check "no command: exit 2" test "$status" -eq 2
    "$vmrun" --kernel /etc/hostname -- true 2>"$scratch/stderr" && status=0 || status=$?
    check "not a bzImage: exit 2" test "$status" -eq 2
    "$vmrun" -- true 2>"$scratch/stderr" && status=0 || status=$?
    check "no --kernel: exit 2" test "$status" -eq 2
    (cd "$scratch" && "$vmrun" --kernel "$kernel" -- true) 2>"$scratch/stderr" && status=0 || status=$?
    check "working directory under the guest's fresh /tmp: exit 2" test "$status" -eq 2
    check "... saying so" grep -q 'is hidden in the guest' "$scratch/stderr"
    ;;
  *)
    echo "unknown case $case_name" >&2
    exit 2
    ;;
esac

check "no qemu process left" no_qemu_left
check "no temp dir left" no_temp_dir_left
((failures == 0))
