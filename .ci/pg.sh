#!/usr/bin/env bash
# pg.sh — a throwaway PostgreSQL cluster for tests, listening only on
# 127.0.0.1 on a free port, with a password-authenticated role that may
# create databases.
#
#   .ci/pg.sh start    start it (installing Debian's postgresql if missing) and
#                      print: export EXTASIS_TEST_POSTGRES=postgres://...
#   .ci/pg.sh dsn      print the DSN of the running cluster
#   .ci/pg.sh down     stop the server, keep its data and port (fault tests)
#   .ci/pg.sh up       start it again after down
#   .ci/pg.sh stop     stop it and remove its folder
#   .ci/pg.sh status   say whether it runs
#
# State lives in $PGTEST_DIR (default /tmp/extasis-pgtest). Every command is
# idempotent; stop touches only the cluster recorded there, by its data
# folder and pid, never other PostgreSQL servers on the machine.
#
# Typical use:  eval "$(.ci/pg.sh start)" && go test ./core/storage/... ; .ci/pg.sh stop
set -euo pipefail

STATE="${PGTEST_DIR:-/tmp/extasis-pgtest}"
DATA="$STATE/data"
ROLE=extasis

log() { echo "pg.sh: $*" >&2; }

bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [[ -x "$d/initdb" ]]; then echo "$d"; return 0; fi
	done
	return 1
}

ensure_installed() {
	if bindir >/dev/null; then return 0; fi
	if [[ $(id -u) -ne 0 ]]; then
		log "PostgreSQL is not installed; run: sudo apt-get install -y postgresql"
		exit 1
	fi
	log "installing Debian's postgresql package"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq postgresql >&2
	bindir >/dev/null || { log "postgresql installed but no initdb found under /usr/lib/postgresql"; exit 1; }
}

# as_pg runs a command as the postgres user when we are root (initdb and
# postgres refuse to run as root), as ourselves otherwise.
as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

running() {
	[[ -f "$DATA/postmaster.pid" ]] || return 1
	local pid
	pid=$(head -n1 "$DATA/postmaster.pid")
	[[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

dsn() {
	echo "postgres://$ROLE:$(cat "$STATE/password")@127.0.0.1:$(cat "$STATE/port")/postgres?sslmode=disable"
}

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_ready() {
	local bin=$1 i
	for i in $(seq 1 100); do
		if "$bin/pg_isready" -q -h 127.0.0.1 -p "$(cat "$STATE/port")"; then return 0; fi
		sleep 0.1
	done
	log "server did not become ready; log:"; tail -n 20 "$STATE/server.log" >&2 || true
	return 1
}

server_start() {
	local bin=$1
	as_pg "$bin/pg_ctl" start -w -t 30 -D "$DATA" -l "$STATE/server.log" \
		-o "-c listen_addresses=127.0.0.1 -p $(cat "$STATE/port") -c unix_socket_directories=$STATE -c fsync=off -c full_page_writes=off" >/dev/null
}

cmd_start() {
	ensure_installed
	local bin; bin=$(bindir)
	if running; then dsn_line; return 0; fi
	if [[ ! -f "$DATA/PG_VERSION" ]]; then
		rm -rf "$STATE"
		mkdir -p "$STATE"
		chmod 0700 "$STATE"
		head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$STATE/password"
		# The superuser is reached only through the socket in $STATE (trust);
		# over TCP it needs this random password, which nothing uses.
		(umask 077; head -c 18 /dev/urandom | base64 >"$STATE/superpw")
		[[ $(id -u) -eq 0 ]] && chown -R postgres: "$STATE"
		as_pg "$bin/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
			--pwfile="$STATE/superpw" -E UTF8 --locale=C.UTF-8 >"$STATE/initdb.log" 2>&1 \
			|| { log "initdb failed:"; cat "$STATE/initdb.log" >&2; exit 1; }
	fi
	local try port
	for try in $(seq 1 20); do
		if [[ -f "$STATE/port" && $try -eq 1 ]]; then
			port=$(cat "$STATE/port")
		else
			port=$((20000 + RANDOM % 40000))
		fi
		port_free "$port" || continue
		echo "$port" >"$STATE/port"
		if server_start "$bin"; then break; fi
		port=""
	done
	[[ -n "$port" ]] || { log "could not start a server on a free port; log:"; tail -n 20 "$STATE/server.log" >&2; exit 1; }
	wait_ready "$bin"
	local pw; pw=$(cat "$STATE/password")
	as_pg "$bin/psql" -q -h "$STATE" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$pw';
  END IF;
END \$\$;
SQL
	dsn_line
}

dsn_line() { echo "export EXTASIS_TEST_POSTGRES='$(dsn)'"; }

cmd_down() {
	running || return 0
	as_pg "$(bindir)/pg_ctl" stop -w -t 30 -D "$DATA" -m fast >/dev/null
}

cmd_up() {
	[[ -f "$DATA/PG_VERSION" ]] || { log "no cluster in $STATE; run start"; exit 1; }
	running && return 0
	local bin; bin=$(bindir)
	server_start "$bin"
	wait_ready "$bin"
}

cmd_stop() {
	if [[ -d "$STATE" ]]; then
		if running; then
			local pid; pid=$(head -n1 "$DATA/postmaster.pid")
			as_pg "$(bindir)/pg_ctl" stop -w -t 30 -D "$DATA" -m fast >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
			for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		fi
		rm -rf "$STATE"
	fi
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
down) cmd_down ;;
up) cmd_up ;;
dsn) running || { log "not running; run start"; exit 1; }; dsn ;;
status) if running; then echo "running on 127.0.0.1:$(cat "$STATE/port") (data $DATA)"; else echo "not running"; exit 1; fi ;;
*) echo "usage: $0 start|stop|dsn|down|up|status" >&2; exit 2 ;;
esac
