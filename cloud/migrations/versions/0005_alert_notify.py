"""alert notify: wake the console feed with NOTIFY caredge_alerts (PostgreSQL only)

Revision ID: 0005_alert_notify
Revises: 0003
Create Date: 2026-11-28 09:00:00

A row trigger rather than a statement trigger: the ORM writes alerts one row per statement, so a
statement trigger would send as many notifications, and PostgreSQL folds identical
(channel, payload) pairs of one transaction into one, so an alert touched by several readings of
one ingest batch is announced once. The payload (the alert id) is a hint: the listener only wakes
the feed, which reads what changed from ``alerts.updated_at`` (docs/console.md, "Live updates").
NOTIFY is delivered at commit, so a woken feed sees the change. SQLite has no NOTIFY: no-op there.
"""

from __future__ import annotations

from alembic import op

revision = "0005_alert_notify"
down_revision = "0003"
branch_labels = None
depends_on = None

#: The channel cloud.notify.pg_listen listens on (a migration does not import app code).
CHANNEL = "caredge_alerts"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION caredge_notify_alert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_TABLE_NAME = 'alerts' THEN
                PERFORM pg_notify('{CHANNEL}', NEW.id::text);
            ELSE
                PERFORM pg_notify('{CHANNEL}', NEW.alert_id::text);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER alerts_notify AFTER INSERT OR UPDATE ON alerts
        FOR EACH ROW EXECUTE FUNCTION caredge_notify_alert()
        """
    )
    op.execute(
        """
        CREATE TRIGGER notifications_notify AFTER INSERT ON notifications
        FOR EACH ROW WHEN (NEW.channel = 'websocket') EXECUTE FUNCTION caredge_notify_alert()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS notifications_notify ON notifications")
    op.execute("DROP TRIGGER IF EXISTS alerts_notify ON alerts")
    op.execute("DROP FUNCTION IF EXISTS caredge_notify_alert()")
