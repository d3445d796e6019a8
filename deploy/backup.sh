#!/usr/bin/env bash
# Nightly database backup, e.g. from cron: 15 2 * * * csms /opt/csms/deploy/backup.sh
# Keeps BACKUP_DAYS days of compressed dumps in BACKUP_DIR.
set -euo pipefail
BACKUP_DIR="${BACKUP_DIR:-/var/backups/csms}"
BACKUP_DAYS="${BACKUP_DAYS:-14}"
set -a; . /etc/csms/csms.env; set +a
mkdir -p "$BACKUP_DIR"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
pg_dump --format=custom --no-owner "$DATABASE_URL" > "$BACKUP_DIR/csms-$stamp.dump"
find "$BACKUP_DIR" -name 'csms-*.dump' -mtime "+$BACKUP_DAYS" -delete
echo "backup written: $BACKUP_DIR/csms-$stamp.dump"
