#!/usr/bin/env bash
# One-time set-up on a fresh machine: Python deps (CPU torch pinned so pip does not pull a
# multi-GB CUDA build) and, when run as root with apt, the Debian packages that the probe
# rebuild (FreeDict dictionaries) and the report's browser test (Chromium) use.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  torch==2.13.0 -e ".[dev]"
SYSTEM_PACKAGES=(dict-freedict-eng-hin dict-freedict-eng-fra dict-freedict-eng-spa
                 dict-freedict-eng-swh dict-freedict-eng-ara
                 chromium netcdf-bin)  # chromium: headless report test; netcdf-bin: ncdump on every store
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  need=()
  for pkg in "${SYSTEM_PACKAGES[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
