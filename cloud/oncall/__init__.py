"""On-call: wards, nurses, shifts, escalation policies and the notification queue."""
