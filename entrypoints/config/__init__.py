"""The service's settings: every key with its default, and where they come from."""
