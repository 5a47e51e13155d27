#!/usr/bin/env bash
# Runs the whole suite offline on a fresh machine: installs what is missing first
# (Python requirements, Debian's chromium for the browser tests and the fonts its pages need:
# emoji, and CJK for the page in Traditional Chinese), then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -r requirements.txt -r requirements-test.txt -r requirements-optional.txt
if ! [ -x "${LAB_CHROMIUM:-/usr/bin/chromium}" ] || ! fc-list :lang=zh-tw 2>/dev/null | grep -q .; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-noto-color-emoji fonts-noto-cjk >/dev/null
fi
python3 -m ruff check .
# One worker per core (pytest-xdist), a test file to each: many tests wait on a server or a browser.
exec python3 -m pytest -q --durations=10 -n "$(nproc)" --dist loadfile "$@"
