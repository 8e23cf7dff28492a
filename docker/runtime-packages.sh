#!/usr/bin/env bash
# Prints the Debian/Ubuntu packages that provide the shared libraries the given binaries load,
# one per line. The build stage of each Dockerfile runs it after `./switchyard.sh build`, and the
# runtime stage installs exactly these: the image gets the run-time half of
# scripts/debian-packages.txt (with the plugins packages such as Open MPI load at run time)
# and none of the compilers or headers.
# CUDA libraries are left out: the CUDA runtime base image already has them, and the driver's
# libcuda is mounted by the NVIDIA container runtime.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }

owner_of() {  # dpkg knows a file under one spelling: as linked, resolved, or /usr-merged.
  local lib="$1" candidate
  for candidate in "$lib" "$(readlink -f "$lib")" "/usr$lib" "${lib#/usr}"; do
    dpkg-query -S "$candidate" 2>/dev/null | head -n1 | cut -d: -f1 && return 0
  done
  echo "runtime-packages: no package owns $lib" >&2
  return 1
}

for binary in "$@"; do
  ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
done | sort -u | while read -r lib; do
  case "$lib" in
    /usr/local/cuda*) continue ;;  # the CUDA toolkit's own libraries: in the runtime base image
  esac
  owner_of "$lib"
done | grep -vE '^(cuda-|libcublas|libcudart|libnvjitlink|libnvidia)' | sort -u
