#!/usr/bin/env bash
# Run the test suite: ./test.sh [pytest options, e.g. -q -x tests/mail]
#
# Sets up .venv exactly as ./run.sh does, then runs pytest. SQLite by default;
# CRM_TEST_DATABASE_URL=postgresql+asyncpg://… runs against PostgreSQL. Browser tests use
# /usr/bin/chromium and are skipped without it, unless CRM_REQUIRE_BROWSER=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
./run.sh --setup-only
exec .venv/bin/python -m pytest "$@"
