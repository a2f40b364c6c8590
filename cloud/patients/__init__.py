"""Patients: the people whose readings caredge stores."""
