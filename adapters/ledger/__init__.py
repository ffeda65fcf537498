"""The local ledger: the Economy port on our own wallet aggregates."""
