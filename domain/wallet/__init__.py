"""The wallet aggregate of the local ledger (the embedded default's economy): credits, and
debits and refunds keyed by request id.

Uses: the kernel only.
"""
