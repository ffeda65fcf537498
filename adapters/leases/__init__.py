"""Where leases are kept: a JetStream KV bucket with a time to live."""
