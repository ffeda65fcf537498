"""The channel queue aggregate: CyTube's playlist as we observe it, under our own item ids, and
everything whose rule spans items: purchases (`pay_*`), promos placed in the queue (`promo_*`),
the lock, and the presence refund policy over pending purchases (`presence_policy`).

Uses: `domain.promos` (settings and kinds, for the promo decisions), `domain.rules` (the
request rules the pay decision checks).
"""
