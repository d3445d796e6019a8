#!/usr/bin/env bash
# Restore a dump of deploy/backup.sh into a fresh, empty database on the server of DATABASE_URL:
#   runuser -u postgres -- createdb -O csms csms_restored
#   runuser -u csms -- /opt/csms/deploy/restore.sh /var/lib/csms/backups/csms-20270101T021500Z.dump csms_restored
# Without a database name: DATABASE_URL's own database, which must then be empty. A database that holds
# tables is never written to, so nothing is lost by a mistyped name. All or nothing: one transaction,
# stopped at the first error. docs/operations.md, "Backups", has the whole procedure.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -r "$1" ]; then
    echo "usage: restore.sh DUMP_FILE [EMPTY_DATABASE_NAME]" >&2
    if [ $# -ge 1 ] && [ ! -r "$1" ]; then echo "restore.sh: cannot read $1" >&2; fi
    exit 2
fi
dump="$1"
. "$(dirname "$0")/pg-env.sh"
if [ $# -eq 2 ]; then
    export PGDATABASE="$2"
fi

tables=$(psql --no-psqlrc --tuples-only --no-align \
    --command="SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
if [ "$tables" != "0" ]; then
    echo "restore.sh: database $PGDATABASE already has $tables tables; restore into a fresh one (createdb)" >&2
    exit 1
fi
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$PGDATABASE" "$dump"
echo "restored $dump into $PGDATABASE; next: manage.py migrate (for a dump of an older version)"
