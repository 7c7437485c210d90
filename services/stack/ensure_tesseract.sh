#!/usr/bin/env bash
# Makes sure Tesseract and its fra + eng data are installed, with the orientation data (osd) the OCR service uses
# to set turned pages upright; installs them with apt-get when we can.
set -euo pipefail
have_langs() { command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx fra \
  && tesseract --list-langs 2>/dev/null | grep -qx eng && tesseract --list-langs 2>/dev/null | grep -qx osd; }
if have_langs; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing tesseract-ocr with fra, eng and osd data (apt-get)..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng tesseract-ocr-osd >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
  echo "installing tesseract-ocr with fra, eng and osd data (sudo apt-get)..." >&2
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng tesseract-ocr-osd >/dev/null
fi
if ! have_langs; then
  cat >&2 <<'MSG'
Tesseract with French, English and orientation (osd) data is required and could not be installed automatically.
Install it with your package manager, for example:
  Debian/Ubuntu: sudo apt-get install tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng tesseract-ocr-osd
  Fedora:        sudo dnf install tesseract tesseract-langpack-fra tesseract-langpack-eng tesseract-osd
  macOS:         brew install tesseract tesseract-lang
MSG
  exit 1
fi
