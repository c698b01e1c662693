#!/usr/bin/env bash
# Runs every Gantry test: go vet, then the whole suite against SQLite and a
# throwaway PostgreSQL (installed from Debian's packages when missing), with
# Chromium for the web UI's browser tests (installed likewise when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
exec bash scripts/with-chromium.sh bash scripts/with-postgres.sh go test -count=1 -timeout 20m ./...
