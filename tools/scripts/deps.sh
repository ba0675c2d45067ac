#!/bin/sh
# Install the Debian packages given as arguments when they are missing.
# As root this runs apt-get; otherwise it prints the exact command to run.
missing=""
for p in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "deps: missing packages:$missing (this is not a Debian system; install them by hand)" >&2
  exit 1
fi
if [ "$(id -u)" = 0 ]; then
  echo "deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing || {
    echo "deps: apt-get install failed" >&2; exit 1; }
else
  echo "deps: missing packages. Run as root:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
  exit 1
fi
