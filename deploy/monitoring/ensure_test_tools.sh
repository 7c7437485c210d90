#!/usr/bin/env bash
# Makes sure what the observability tests drive is installed: Prometheus and promtool (Debian's `prometheus`),
# Chromium and its matching chromedriver (`chromium`, `chromium-driver`). Installs them with apt-get when we can;
# nothing here downloads a browser or a binary of its own.
set -euo pipefail
have_all() { command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 \
  && command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }
if have_all; then exit 0; fi
PACKAGES="prometheus chromium chromium-driver"
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing $PACKAGES (apt-get)..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
  echo "installing $PACKAGES (sudo apt-get)..." >&2
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
fi
if ! have_all; then
  cat >&2 <<'MSG'
The observability tests need prometheus + promtool and chromium + chromedriver, which could not be installed.
Install them with your package manager, for example:
  Debian/Ubuntu: sudo apt-get install prometheus chromium chromium-driver
MSG
  exit 1
fi
