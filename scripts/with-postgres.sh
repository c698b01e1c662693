#!/usr/bin/env bash
# with-postgres.sh CMD [ARGS...]
#
# Runs CMD against a throwaway PostgreSQL server and propagates its exit code:
#
#   1. installs PostgreSQL from Debian's packages when no server binaries are
#      found under /usr/lib/postgresql/*/bin (apt-get update; apt-get install -y
#      postgresql, turning off the creation of Debian's "main" cluster);
#   2. creates a fresh cluster with initdb in a temporary directory (owned by
#      the postgres system user when run as root, since initdb and postgres
#      refuse to run as root);
#   3. starts it on a free port of 127.0.0.1 only, with its unix socket in the
#      temporary directory and durability off (fsync, synchronous_commit,
#      full_page_writes) for speed;
#   4. creates the database gantry_test and exports
#      GANTRY_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:PORT/gantry_test?sslmode=disable
#   5. runs CMD, then stops the server and removes the directory (on any exit).
#
# Example: bash scripts/with-postgres.sh go test ./internal/store/...
#
# Safe to run repeatedly and concurrently: every run has its own cluster,
# directory (under ${GANTRY_PG_TMPDIR:-/tmp}) and port. Nothing is left
# running afterwards.
set -euo pipefail

if [ "$#" -eq 0 ]; then
	echo "usage: $0 CMD [ARGS...]" >&2
	exit 2
fi

log() { echo "with-postgres: $*" >&2; }

find_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
		echo "$d"
	fi
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

BINDIR=$(find_bindir)
if [ -z "$BINDIR" ]; then
	log "PostgreSQL not found; installing it from Debian's packages"
	as_root apt-get update
	# Only the binaries are wanted: install postgresql-common first and turn
	# off the creation (and start) of the system's "main" cluster on port
	# 5432, as the official PostgreSQL images do, then the server.
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-common
	if [ -f /etc/postgresql-common/createcluster.conf ]; then
		as_root sed -ri 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*$/create_main_cluster = false/' \
			/etc/postgresql-common/createcluster.conf
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
	BINDIR=$(find_bindir)
	if [ -z "$BINDIR" ]; then
		log "postgresql installed but no server binaries under /usr/lib/postgresql/*/bin"
		exit 1
	fi
fi

# initdb and postgres refuse to run as root: use the postgres system user
# (created by the package) then.
RUN_AS=()
if [ "$(id -u)" -eq 0 ]; then
	if ! id postgres >/dev/null 2>&1; then
		log "running as root but there is no postgres system user"
		exit 1
	fi
	RUN_AS=(runuser -u postgres --)
fi

# Under /tmp rather than $TMPDIR: the postgres user must be able to reach it.
TMP=$(mktemp -d "${GANTRY_PG_TMPDIR:-/tmp}/gantry-pg.XXXXXX")
PGDATA="$TMP/data"
SOCKDIR="$TMP/sock"
mkdir -p "$SOCKDIR"
if [ "${#RUN_AS[@]}" -gt 0 ]; then
	chown -R postgres: "$TMP"
fi
chmod 700 "$TMP"

# pg runs a command as the cluster's owner, from a directory it can read.
pg() { (cd "$TMP" && "${RUN_AS[@]}" "$@"); }

cleanup() {
	local rc=$?
	if [ -f "$PGDATA/postmaster.pid" ]; then
		pg "$BINDIR/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pg "$BINDIR/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$TMP/initdb.log" 2>&1 || {
	cat "$TMP/initdb.log" >&2
	exit 1
}

# port_free reports whether nothing listens on 127.0.0.1:$1.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

PORT=""
for _ in $(seq 1 20); do
	p=$((20000 + RANDOM % 40000))
	port_free "$p" || continue
	if pg "$BINDIR/pg_ctl" -D "$PGDATA" -l "$TMP/server.log" -w -t 60 \
		-o "-p $p -c listen_addresses=127.0.0.1 -k $SOCKDIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
		start >/dev/null 2>&1; then
		PORT=$p
		break
	fi
	# Lost a race for the port (or another failure): show why, then retry.
	tail -n 5 "$TMP/server.log" >&2 2>/dev/null || true
done
if [ -z "$PORT" ]; then
	log "could not start PostgreSQL; server log:"
	cat "$TMP/server.log" >&2 2>/dev/null || true
	exit 1
fi

pg "$BINDIR/createdb" -h 127.0.0.1 -p "$PORT" -U postgres gantry_test
export GANTRY_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/gantry_test?sslmode=disable"
log "PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT ($TMP)"

# Run the command in the background so that a signal sent to this script is
# handled at once: it is forwarded to the command, and the cluster is still
# stopped and removed afterwards. Standard input is passed on explicitly
# (a background job would otherwise read /dev/null).
exec 3<&0
"$@" <&3 3<&- &
child=$!
exec 3<&-
trap 'kill -TERM "$child" 2>/dev/null || true' TERM
trap 'kill -INT "$child" 2>/dev/null || true' INT
trap 'kill -HUP "$child" 2>/dev/null || true' HUP
status=0
while :; do
	wait "$child" && status=0 || status=$?
	# wait also returns when a trapped signal arrives: go on until it exits.
	kill -0 "$child" 2>/dev/null || break
done
exit "$status"
