"""The audit trail of administrative and clinical actions."""
