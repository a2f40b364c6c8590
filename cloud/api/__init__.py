"""The HTTP API: app factory, request dependencies and error translation."""
