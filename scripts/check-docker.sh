#!/usr/bin/env bash
# CI check of docker/ (no Docker engine needed):
#  1. docker-compose validates docker/compose.yaml, with and without the cpu profile;
#  2. each Dockerfile builds the way the README does: it installs scripts/debian-packages.txt
#     through scripts/install-deps.sh and builds through ./switchyard.sh (same cmake flags), and
#     never lists packages or cmake flags of its own;
#  3. Prometheus scrapes compose services on the ports their commands listen on.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
failures=0
fail() { echo "check-docker: FAIL: $*" >&2; failures=$((failures + 1)); }

if ! command -v docker-compose >/dev/null; then
  echo "check-docker: docker-compose not found; scripts/install-deps.sh installs it" \
       "(Debian package docker-compose in scripts/debian-packages.txt)" >&2
  exit 1
fi

# 1. Compose file validity. Variables get neutral values so the check does not depend on the
#    caller's environment.
export SWITCHYARD_API_KEY="" SWITCHYARD_MODEL="/models/m" SWITCHYARD_MODELS_DIR="$root/docker/models"
docker-compose -f docker/compose.yaml config -q || fail "docker/compose.yaml does not validate"
docker-compose -f docker/compose.yaml --profile cpu config -q ||
  fail "docker/compose.yaml does not validate with --profile cpu"

# 2. Dockerfiles use the scripts, and only the scripts, to install and build.
for dockerfile in docker/Dockerfile docker/Dockerfile.cpu; do
  [ -f "$dockerfile" ] || { fail "$dockerfile is missing"; continue; }
  # Logical lines: join backslash continuations, drop comments.
  steps="$(sed -e 's/#.*$//' "$dockerfile" | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta')"
  grep -qE '^RUN .*scripts/install-deps\.sh' <<<"$steps" ||
    fail "$dockerfile does not install dependencies with scripts/install-deps.sh"
  grep -qE '^RUN .*\./switchyard\.sh build' <<<"$steps" ||
    fail "$dockerfile does not build with ./switchyard.sh build"
  grep -qE '^COPY scripts/ scripts/' <<<"$steps" ||
    fail "$dockerfile does not copy scripts/ before installing"
  if grep -qE '(^|[;&| ])cmake ' <<<"$steps"; then
    fail "$dockerfile calls cmake itself; flags must come from switchyard.sh"
  fi
  # The only apt-get install allowed installs the list derived from the built binaries.
  while IFS= read -r line; do
    grep -q 'runtime-packages.txt' <<<"$line" ||
      fail "$dockerfile installs packages by name: $line"
  done < <(grep -E 'apt-get install' <<<"$steps" || true)
  grep -qE 'docker/runtime-packages\.sh' <<<"$steps" ||
    fail "$dockerfile does not derive its runtime packages with docker/runtime-packages.sh"
done

# The scripts the Dockerfiles rely on must do what they are trusted to do.
grep -q 'debian-packages.txt' scripts/install-deps.sh ||
  fail "scripts/install-deps.sh no longer reads scripts/debian-packages.txt"
grep -qE '^\s*build\)' switchyard.sh || fail "switchyard.sh has no build command"
grep -q 'docker-compose' scripts/debian-packages.txt ||
  fail "scripts/debian-packages.txt does not list docker-compose (needed by this check)"

# 3. Prometheus targets are compose services listening on the scraped ports.
python3 - "$root" <<'PY' || fail "docker/prometheus.yml does not match docker/compose.yaml"
import re, subprocess, sys, yaml
root = sys.argv[1]
compose = yaml.safe_load(subprocess.run(
    ["docker-compose", "-f", f"{root}/docker/compose.yaml", "--profile", "cpu", "config"],
    check=True, capture_output=True, text=True).stdout)
prometheus = yaml.safe_load(open(f"{root}/docker/prometheus.yml"))
ok = True
for job in prometheus["scrape_configs"]:
    for group in job["static_configs"]:
        for target in group["targets"]:
            host, port = target.rsplit(":", 1)
            service = compose["services"].get(host)
            if service is None:
                print(f"prometheus target {target}: no compose service {host}"); ok = False
                continue
            command = " ".join(service.get("command") or [])
            # gateway: --admin-listen=HOST:PORT; server: --admin-port=PORT
            if not re.search(rf"--admin-(listen|port)[= ](\S*:)?{port}\b", command):
                print(f"prometheus target {target}: {host} does not serve metrics on {port}")
                ok = False
mounts = compose["services"]["prometheus"].get("volumes", [])
if not any("prometheus.yml" in str(m) for m in mounts):
    print("prometheus service does not mount docker/prometheus.yml"); ok = False
sys.exit(0 if ok else 1)
PY

if [ "$failures" -gt 0 ]; then
  echo "check-docker: $failures problem(s)" >&2
  exit 1
fi
echo "check-docker: compose validates; Dockerfiles build through install-deps.sh and switchyard.sh"
