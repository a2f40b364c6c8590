#!/usr/bin/env bash
# Back up caredge's stores into OUT_DIR (docs/operations.md, "Backup and restore"):
#   OUT_DIR/postgres.pgdump      pg_dump custom format of the relational database
#   OUT_DIR/victoria-metrics/    vmbackup of an instant VictoriaMetrics snapshot
#
#   scripts/backup.sh OUT_DIR
#
# CAREDGE_BACKUP_PG_URL   libpq URL of the database: postgresql://user:pass@host:5432/caredge
#                         (or set PGPASSWORD / ~/.pgpass and leave the password out)
# CAREDGE_BACKUP_VM_URL   VictoriaMetrics' HTTP address, e.g. http://127.0.0.1:8428
# CAREDGE_BACKUP_VM_DATA  its -storageDataPath: vmbackup reads the snapshot's files from disk,
#                         so run this where that directory is (same host or volume)
#
# Both stores stay online. Readings written between the two steps are in the time-series backup
# but not in the ledger one (or the reverse): after a restore the ingest ledger decides, and a
# gateway resending such a reading stores it again at most once (docs/ingest.md).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
: "${CAREDGE_BACKUP_PG_URL:?set CAREDGE_BACKUP_PG_URL}"
: "${CAREDGE_BACKUP_VM_URL:?set CAREDGE_BACKUP_VM_URL}"
: "${CAREDGE_BACKUP_VM_DATA:?set CAREDGE_BACKUP_VM_DATA}"
out=$(mkdir -p "$1" && cd "$1" && pwd)

pg_dump --format=custom --no-owner --no-privileges --file "$out/postgres.pgdump" \
  "$CAREDGE_BACKUP_PG_URL"
echo "PostgreSQL: $out/postgres.pgdump"

vmbackup -loggerLevel=ERROR \
  -storageDataPath="$CAREDGE_BACKUP_VM_DATA" \
  -snapshot.createURL="$CAREDGE_BACKUP_VM_URL/snapshot/create" \
  -dst="fs://$out/victoria-metrics"
echo "VictoriaMetrics: $out/victoria-metrics"
