"""Request rules: the limits a channel puts on what viewers may buy, an aggregate of their own.

Uses: `domain.promos` (its `InvalidSetting`, the settings' shared error).
Others use: `RulesConfig`, `RequestRefusedByRule` (the queue's pay decision, stats).
"""
