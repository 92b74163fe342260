#!/usr/bin/env bash
# Installs what the serving tests need beyond Swift, only where missing: Debian's chromium and
# chromium-driver (the headless browser test of the web page) and PyPI's selenium and openai
# (the browser driver and the official OpenAI client). Idempotent.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v unzip >/dev/null || missing+=(unzip)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (apt)" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! python3 -c "import selenium, openai" 2>/dev/null; then
    echo "installing selenium and openai (pip)" >&2
    python3 -m pip install -q --disable-pip-version-check selenium openai
fi
