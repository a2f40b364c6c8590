"""The nurse console: static HTML/JS served by the API, its read models and its WebSocket."""
