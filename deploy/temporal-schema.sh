#!/bin/sh
# Runs once before the Temporal server: creates its two databases and applies every schema version
# with the admin tools' temporal-sql-tool (the supported way; auto-setup images are deprecated).
set -eu
export SQL_PASSWORD="$(cat /run/secrets/postgres_password)"
SCHEMA=/etc/temporal/schema/postgresql/v12
for db in temporal temporal_visibility; do
  dir=temporal
  [ "$db" = temporal_visibility ] && dir=visibility
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" --db "$db" create-database || true
  # setup-schema refuses a database that already has one: on a re-run, update-schema does the work.
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" --db "$db" setup-schema -v 0.0 || true
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" --db "$db" update-schema -d "$SCHEMA/$dir/versioned"
done
echo "schema ready"
