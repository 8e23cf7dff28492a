#!/usr/bin/env bash
# The two commands of the README:
#   ./switchyard.sh serve [server flags...]   install what is missing, build, serve
#                                             (the bundled tiny model when no --model is given)
#   ./switchyard.sh test                      install what is missing, build, run every test
#   ./switchyard.sh build [targets...]        install what is missing, build (the Dockerfiles use
#                                             this, so images build exactly like a bare machine)
# Environment: BUILD_DIR (default build), SWITCHYARD_CUDA (ON/OFF, default: ON when nvcc exists),
# SWITCHYARD_CUDA_ARCHS (default "80;89;90a"), JOBS (default: number of cores).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
build_dir="${BUILD_DIR:-build}"
jobs="${JOBS:-$(nproc)}"

configure_and_build() {
  local args=(-S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release)
  [ -n "${SWITCHYARD_CUDA:-}" ] && args+=(-DSWITCHYARD_CUDA="$SWITCHYARD_CUDA")
  [ -n "${SWITCHYARD_CUDA_ARCHS:-}" ] && args+=(-DSWITCHYARD_CUDA_ARCHS="$SWITCHYARD_CUDA_ARCHS")
  cmake "${args[@]}"
  cmake --build "$build_dir" -j "$jobs" ${1:+--target "$@"}
}

cmd="${1:-}"
shift || true
case "$cmd" in
  serve)
    scripts/install-deps.sh
    configure_and_build
    exec "$build_dir/bin/switchyard-server" "$@"
    ;;
  build)
    scripts/install-deps.sh
    configure_and_build "$@"
    ;;
  test)
    scripts/install-deps.sh --with-python-tests
    configure_and_build
    cd "$build_dir"
    ctest --output-on-failure -j "$jobs" "$@"
    ;;
  *)
    echo "usage: $0 serve [--model DIR] [server flags...] | test [ctest args...] | build [targets...]" >&2
    exit 2
    ;;
esac
