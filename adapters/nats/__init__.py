"""The embedded nats-server: launched, reused or adopted on the data directory."""
