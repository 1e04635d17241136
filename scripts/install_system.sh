#!/usr/bin/env bash
# Install the Debian packages the project needs beyond Python: Chromium for the browser tests (Playwright drives
# it through executable_path), and Pango with the Noto fonts for the PDFs (weasyprint shapes Arabic with them).
set -u
# --no-browser (make dev): only what the running system needs, not the browser tests' Chromium.
CHROMIUM=/usr/bin/chromium
browser=1
[ "${1:-}" = "--no-browser" ] && browser=0
missing=()
[ "$browser" = 0 ] || [ -x "$CHROMIUM" ] || missing+=(chromium)
# Pango renders the text of every PDF; Noto covers Latin, Arabic (Naskh) and the rest of the network's scripts.
ldconfig -p 2>/dev/null | grep -q "libpangoft2-1.0.so.0" || missing+=(libpango-1.0-0 libpangoft2-1.0-0)
[ -f /usr/share/fonts/truetype/noto/NotoNaskhArabic-Regular.ttf ] || missing+=(fonts-noto-core)
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages present: $([ "$browser" = 1 ] && echo "chromium, ")pango and Noto fonts"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo -n"
else
  SUDO=""
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing with apt-get: ${missing[*]}"
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    >/tmp/install_system.log 2>&1; then
  echo "install_system: could not install ${missing[*]} with apt-get (needs root and network; see /tmp/install_system.log)" >&2
  exit 1
fi
if [ "$browser" = 1 ] && [ ! -x "$CHROMIUM" ]; then
  echo "install_system: apt-get finished but $CHROMIUM is missing" >&2
  exit 1
fi
echo "system packages installed: ${missing[*]}"
