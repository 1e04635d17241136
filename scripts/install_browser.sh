#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (Playwright drives it through executable_path).
set -u
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  echo "chromium: $("$CHROMIUM" --version 2>/dev/null || echo present) at $CHROMIUM"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo -n"
else
  SUDO=""
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends chromium; } >/tmp/install_browser.log 2>&1; then
  echo "install_browser: could not install chromium with apt-get (needs root and network; see /tmp/install_browser.log)" >&2
  exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
  echo "install_browser: apt-get finished but $CHROMIUM is missing" >&2
  exit 1
fi
echo "chromium: $("$CHROMIUM" --version 2>/dev/null) installed at $CHROMIUM"
