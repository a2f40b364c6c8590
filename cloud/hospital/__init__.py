"""The hospital: departments, clinicians, appointments, check-in and queue numbers."""
