"""The channel's promo settings (an aggregate) and the five promo kinds.

Uses: the kernel only. The promo decisions themselves live in `domain.queue`, which owns
where items sit.
"""
