"""Litestar HTTP + WebSocket entrypoints: thin handlers over the application layer."""
