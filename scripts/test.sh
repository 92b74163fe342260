#!/usr/bin/env bash
# The test command: fetches the real test model if missing, installs the serving tests' clients
# (chromium, selenium, openai) if missing, checks formatting, runs every Swift test in a release
# build, then drives a live `lora serve` with the openai package and a headless browser.
# SWIFTLORA_REQUIRE_MODELS=1 makes real-model tests fail, not skip, when the model is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-models.sh >/dev/null
scripts/install-test-deps.sh
swift format lint --strict --recursive Sources Tests Package.swift
SWIFTLORA_REQUIRE_MODELS=1 swift test -c release -Xswiftc -enable-testing "$@"
scripts/web-tests.sh
