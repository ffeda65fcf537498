"""Leases: one owner per channel (and per shared read-model database) among many instances.

An instance takes a lease by creating its entry (only if absent), keeps it by updating it with
the revision it last wrote (compare-and-set), and loses it when an update is refused or when it
could not renew in time; it then stops the owner-only work at once. A lease nobody renews lapses
(the store's TTL) and the next instance to try creates it again: a takeover. The decisions (when
to renew, when a lease is surely no longer ours) are pure functions in `policy`; the store is a
port (`ports`), a JetStream KV bucket in production (adapters/leases).
"""
