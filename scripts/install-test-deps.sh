#!/usr/bin/env bash
# Installs what the serving tests need beyond Swift, only where missing, and says what it did:
# Debian's chromium and chromium-driver (the headless browser test of the web page), curl and
# unzip (the test scripts), and PyPI's selenium and openai (the browser driver and the official
# OpenAI client) for the python3 on PATH. Idempotent; works as root (CI) or with sudo.
#   scripts/install-test-deps.sh
set -euo pipefail
PYTHON=${PYTHON:-python3}
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
say() { echo "install-test-deps: $*" >&2; }

apt_install() {
    say "installing $* (apt-get)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
command -v curl >/dev/null || missing+=(curl)
command -v unzip >/dev/null || missing+=(unzip)
command -v "$PYTHON" >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
else
    say "chromium, chromium-driver, curl, unzip: already installed"
fi

if "$PYTHON" -c "import selenium, openai" 2>/dev/null; then
    say "selenium and openai: already installed for $("$PYTHON" -c 'import sys; print(sys.executable)')"
else
    if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
        apt_install python3-pip
    fi
    say "installing selenium and openai (pip, for $("$PYTHON" -c 'import sys; print(sys.executable)'))"
    pip=("$PYTHON" -m pip install -q --disable-pip-version-check)
    if [ "$(id -u)" = 0 ]; then pip+=(--root-user-action=ignore); fi
    # Debian's own python3 is "externally managed" (PEP 668): pip refuses without this flag.
    if "$PYTHON" -c 'import sys, sysconfig, os; sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) or sys.prefix != sys.base_prefix)'; then
        pip+=(--break-system-packages)
    fi
    "${pip[@]}" selenium openai
    "$PYTHON" -c "import selenium, openai" # fails loudly if the install did not take
fi
say "versions: selenium $("$PYTHON" -c 'import selenium; print(selenium.__version__)'), openai $("$PYTHON" -c 'import openai; print(openai.__version__)'), $(/usr/bin/chromium --version 2>/dev/null)"
