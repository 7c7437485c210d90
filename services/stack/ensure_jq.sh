#!/usr/bin/env bash
# Makes sure jq is installed: the tests run docs/logs.md's jq recipes as written. apt-get when we can.
set -euo pipefail
if command -v jq >/dev/null 2>&1; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing jq (apt-get)..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
  echo "installing jq (sudo apt-get)..." >&2
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null
fi
if ! command -v jq >/dev/null 2>&1; then
  echo "jq is needed by the tests (docs/logs.md's recipes) and could not be installed: install it (apt-get install jq, brew install jq)" >&2
  exit 1
fi
