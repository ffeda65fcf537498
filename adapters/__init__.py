"""Adapters implement the application's ports, grouped by what they talk to: the log
(`log`: JetStream, in memory, codec, snapshots), the embedded nats-server (`nats`), SQL read
models (`sql`), Kryten-Robot and kryten-economy (`kryten`), the simulated channel (`sim`), the
local ledger (`ledger`), bearer tokens (`identity`), Prometheus (`telemetry`); time and the
data-dir lock are top-level. Only `entrypoints.bootstrap` builds them.
"""
