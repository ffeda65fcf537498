"""The event log: JetStream and in-memory stores, the codec, subjects, aggregate snapshots."""
