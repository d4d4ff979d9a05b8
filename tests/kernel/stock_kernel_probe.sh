#!/usr/bin/env bash
# stock_kernel_probe.sh SOURCE_DIR RCVQBENCH: Debian's own kernel (linux-image-amd64)
# boots under tools/vmrun and `rcvqbench probe` names what it lacks instead of crashing.
set -euo pipefail
src=$1 rcvqbench=$2
kernel=$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -1)
if [ -z "$kernel" ]; then
  echo "no /boot/vmlinuz-*-amd64: tools/setup installs linux-image-amd64" >&2
  exit 1
fi
out=$("$src/tools/vmrun" --kernel "$kernel" --timeout 300 -- "$rcvqbench" probe --json)
echo "$out"
python3 - "$out" <<'PY'
import json, sys
probe = json.loads(sys.argv[1])["probe"]
for key in ("autolowat_sockops", "autolowat_tcp_ops"):
    entry = probe[key]
    assert entry["available"] is False, f"{key}: a stock kernel cannot have the hook: {entry}"
    assert entry["detail"], f"{key}: no reason given"
print("stock kernel probe: both AutoLOWAT interfaces reported missing with reasons")
PY
