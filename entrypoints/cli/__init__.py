"""The `webqueue` command: serve, rebuild, events, replay, token."""
