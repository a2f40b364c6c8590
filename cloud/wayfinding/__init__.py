"""Wayfinding over HTTP: routes, directions and floor plans from the hospital map (public)."""
