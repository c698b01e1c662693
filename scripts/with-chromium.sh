#!/usr/bin/env bash
# with-chromium.sh CMD [ARGS...]
#
# Makes sure a headless-capable Chromium is installed for the web UI's
# browser tests, then runs CMD. When none of chromium, chromium-browser or
# google-chrome is on PATH it installs Debian's chromium package (as root,
# or through sudo), as with-postgres.sh does for PostgreSQL. When it cannot
# install one it still runs CMD: the browser tests then skip with a message,
# or fail when CI is set.
set -euo pipefail

if [ "$#" -eq 0 ]; then
	echo "usage: $0 CMD [ARGS...]" >&2
	exit 2
fi

log() { echo "with-chromium: $*" >&2; }

have_browser() {
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ||
		command -v google-chrome >/dev/null 2>&1
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		log "need root to run: $*"
		return 1
	fi
}

if ! have_browser; then
	log "Chromium not found; installing Debian's chromium package"
	if ! { as_root apt-get update && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }; then
		log "could not install chromium: browser tests will skip (or fail under CI)"
	fi
fi

exec "$@"
