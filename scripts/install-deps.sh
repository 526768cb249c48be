#!/usr/bin/env bash
# Install the Debian packages pyvirt needs (idempotent; does nothing when all are present).
# Used by `make test`, `make demo` and CI on a fresh Debian 12 machine (as root).
set -euo pipefail
pkgs=(python3 python3-venv qemu-system-x86 qemu-utils kmod cpio gzip xz-utils iproute2
      openssh-server openssh-client procps)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The demo guest is built from packages fetched with `apt-get download`: it needs lists.
lists_empty=1
# (apt may keep them compressed: *_Packages.lz4 and the like)
compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null && lists_empty=0
if [ ${#missing[@]} -eq 0 ] && [ $lists_empty -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing Debian packages: ${missing[*]:-(apt lists)}; run as root or install them" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# wait for another apt (e.g. a second make) instead of failing at once
wait_lock=(-o DPkg::Lock::Timeout=600)
apt-get "${wait_lock[@]}" update -q
if [ ${#missing[@]} -gt 0 ]; then
    apt-get "${wait_lock[@]}" install -y -q --no-install-recommends "${missing[@]}"
fi
