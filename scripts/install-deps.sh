#!/usr/bin/env bash
# Installs what is missing to build, test and serve Switchyard on Debian 12. Idempotent: only
# packages that are not installed yet are fetched. Python packages are for tests and tools only.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

mapfile -t wanted < <(grep -vE '^\s*(#|$)' "$here/debian-packages.txt")
if [ -n "${SWITCHYARD_EXTRA_PACKAGES:-}" ]; then wanted+=(${SWITCHYARD_EXTRA_PACKAGES}); fi
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Python packages used by e2e tests and tools (never by the server at run time).
if [ "${1:-}" = "--with-python-tests" ]; then
  req="$here/../tests/requirements.txt"
  if ! python3 -c "import grpc, grpc_tools, openai" 2>/dev/null; then
    python3 -m pip install -q --disable-pip-version-check -r "$req" 2>/dev/null ||
      python3 -m pip install -q --disable-pip-version-check --break-system-packages -r "$req"
  fi
fi
