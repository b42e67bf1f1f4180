#!/usr/bin/env bash
# File: scripts/release-checks.sh
# The deep checks before a release, too long for the test command (about 50
# minutes on 2 cores from a cold cache): the whole suite under AddressSanitizer
# + UndefinedBehaviorSanitizer (scripts/sanitize.sh address), the tests tagged
# [threads] under ThreadSanitizer (scripts/sanitize.sh thread), and every fuzz
# target for FUZZ_SECONDS (default 300) each (scripts/fuzz.sh). A long fault
# run is separate: tests/chaos/README.md ("A long run").
# Usage: scripts/release-checks.sh
# Exits non-zero if any part failed.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
scripts/sanitize.sh address || status=1
scripts/sanitize.sh thread || status=1
FUZZ_SECONDS=${FUZZ_SECONDS:-300} scripts/fuzz.sh || status=1
exit "$status"
