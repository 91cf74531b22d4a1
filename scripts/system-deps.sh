#!/usr/bin/env bash
# System packages the registry needs, installed only when missing (idempotent, quiet).
#
#   fonts-wqy-zenhei   CJK font: the department name on the seal image (registry.seal.making)
#   fonts-hanazono     CJK fallback font with the rare characters (𠮷, CJK Ext. B) for PDF renditions
#   poppler-utils      pdftoppm / pdfsig: PDF renditions looked at and checked in tests (registry.pdf)
#   libnss3-tools      certutil: an NSS database trusting the test root, for pdfsig in tests
#   zbar-tools         zbarimg: the QR code on a PDF rendition decodes to its identifier (tests)
#   chromium           headless browser: the weekly bulletin's HTML is opened and screenshotted (tests)
#
# Run as root (or with sudo available) on Debian/Ubuntu: bash scripts/system-deps.sh
set -euo pipefail

PACKAGES=(
  fonts-wqy-zenhei
  fonts-hanazono
  poppler-utils
  libnss3-tools
  zbar-tools
  chromium
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "system-deps: need root to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system-deps: installed ${missing[*]}"
