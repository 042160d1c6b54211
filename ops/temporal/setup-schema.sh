#!/bin/sh
# One-shot (temporalio/admin-tools): create Temporal's two databases (DBNAME, VISIBILITY_DBNAME) on the compose Postgres and bring
# their schemas up to date. Safe to run on every `docker compose up`: existing databases are kept and
# update-schema only applies missing versions. `npm run start:cluster` does the same on every start
# (devstack/temporal-server.ts).
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
PORT="${DB_PORT:-5432}"
# The databases the server uses (the same variables as the temporal service's config).
DB_MAIN="${DBNAME:-temporal}"
DB_VISIBILITY="${VISIBILITY_DBNAME:-temporal_visibility}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

sqltool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$PORT" -u "$POSTGRES_USER" --pw "${POSTGRES_PWD:-}" "$@"
}

until nc -z -w 2 "$POSTGRES_SEEDS" "$PORT"; do
  echo "waiting for Postgres at $POSTGRES_SEEDS:$PORT"
  sleep 1
done

for db in "$DB_MAIN" "$DB_VISIBILITY"; do
  if [ "$db" = "$DB_MAIN" ]; then dir="$SCHEMA_DIR/temporal/versioned"; else dir="$SCHEMA_DIR/visibility/versioned"; fi
  sqltool --db "$db" create 2>/dev/null || echo "database $db exists"
  sqltool --db "$db" setup-schema -v 0.0
  sqltool --db "$db" update-schema -d "$dir"
  echo "schema of $db is up to date"
done
