#!/usr/bin/env bash
# Dump the CSMS database into BACKUP_DIR and keep BACKUP_DAYS days of dumps. Run it as the service
# user (it reads the settings the server reads), e.g. nightly from /etc/cron.d/csms:
#   15 2 * * * csms /opt/csms/deploy/backup.sh
# A dump is written under a temporary name and renamed when complete: a file named csms-*.dump is
# always whole. Restore one with deploy/restore.sh (docs/operations.md, "Backups").
set -euo pipefail
umask 077  # dumps hold every driver's data: readable by the service user only
. "$(dirname "$0")/pg-env.sh"

# Beside the service's own files by default, where the service user may create directories.
BACKUP_DIR="${BACKUP_DIR:-${CSMS_VAR_DIR:-/var/lib/csms}/backups}"
BACKUP_DAYS="${BACKUP_DAYS:-14}"
if ! mkdir -p -m 700 "$BACKUP_DIR" 2>/dev/null || [ ! -w "$BACKUP_DIR" ]; then
    echo "backup.sh: $(id -un) cannot write to $BACKUP_DIR; as root: install -d -m 700 -o $(id -un) $BACKUP_DIR" >&2
    exit 1
fi

target="$BACKUP_DIR/csms-$(date -u +%Y%m%dT%H%M%SZ).dump"
pg_dump --format=custom --no-owner --no-privileges --file="$target.partial"
mv "$target.partial" "$target"
find "$BACKUP_DIR" -maxdepth 1 -name 'csms-*.dump' -mtime "+$BACKUP_DAYS" -delete
echo "backup written: $target"
