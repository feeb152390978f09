#!/usr/bin/env bash
# Runs the whole test suite. The tests start their own redis-server processes (the TLS ones with certificates they
# make with openssl) and drive Debian's chromium, so this installs them first when they are missing (Debian/Ubuntu,
# as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")"

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v openssl >/dev/null || missing+=(openssl)
command -v chromium >/dev/null || missing+=(chromium)
[ -x /usr/bin/kill ] || [ -x /bin/kill ] || missing+=(procps) # the tests freeze and kill servers with kill(1)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "Install ${missing[*]} (as root), then run this again." >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "Installing ${missing[*]}..."
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

dotnet test RcAspNet.sln "$@"
