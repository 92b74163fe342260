#!/usr/bin/env bash
# The test command: fetches the real test model if missing, checks formatting, then runs every
# test in a release build. SWIFTLORA_REQUIRE_MODELS=1 makes real-model tests fail, not skip,
# when the model is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-models.sh >/dev/null
swift format lint --strict --recursive Sources Tests Package.swift
SWIFTLORA_REQUIRE_MODELS=1 swift test -c release -Xswiftc -enable-testing "$@"
