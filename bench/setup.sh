#!/usr/bin/env bash
# Sets up the benchmark-only environment: bench/.venv with OCRmyPDF and rapidfuzz, plus the programs OCRmyPDF
# calls (unpaper for --clean, ghostscript). Kept apart from the product venv so the product never depends on them.
# Idempotent: re-running only installs what is missing. Usage: bash bench/setup.sh
set -euo pipefail
cd "$(dirname "$0")"

missing=()
command -v tesseract >/dev/null || missing+=(tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng)
command -v unpaper >/dev/null || missing+=(unpaper)
command -v gs >/dev/null || missing+=(ghostscript)
command -v fc-list >/dev/null || missing+=(fontconfig)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf ] || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements-bench.txt
# The product itself too, so the prep+tesseract candidate imports services.prep with its real dependencies.
.venv/bin/python -m pip install -q -e ..
.venv/bin/ocrmypdf --version
echo "bench env ready: bench/.venv (run: .venv/bin/python bench/ocr_bench.py)"
