#!/usr/bin/env bash
# Restore a scripts/backup.sh backup into fresh servers (docs/operations.md).
#
#   scripts/restore.sh BACKUP_DIR
#
# CAREDGE_RESTORE_PG_URL   libpq URL of an existing, EMPTY database (createdb it first)
# CAREDGE_RESTORE_VM_DATA  -storageDataPath of a STOPPED VictoriaMetrics (vmrestore makes its
#                          contents match the backup: anything else in it is deleted)
# Start VictoriaMetrics on that directory afterwards.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BACKUP_DIR" >&2
  exit 2
fi
: "${CAREDGE_RESTORE_PG_URL:?set CAREDGE_RESTORE_PG_URL}"
: "${CAREDGE_RESTORE_VM_DATA:?set CAREDGE_RESTORE_VM_DATA}"
in=$(cd "$1" && pwd)
[ -f "$in/postgres.pgdump" ] || { echo "$in/postgres.pgdump is missing" >&2; exit 1; }
[ -d "$in/victoria-metrics" ] || { echo "$in/victoria-metrics is missing" >&2; exit 1; }

pg_restore --no-owner --no-privileges --exit-on-error --single-transaction \
  --dbname "$CAREDGE_RESTORE_PG_URL" "$in/postgres.pgdump"
echo "PostgreSQL restored"

mkdir -p "$CAREDGE_RESTORE_VM_DATA"
vmrestore -loggerLevel=ERROR -src="fs://$in/victoria-metrics" \
  -storageDataPath="$CAREDGE_RESTORE_VM_DATA"
echo "VictoriaMetrics data restored into $CAREDGE_RESTORE_VM_DATA"
