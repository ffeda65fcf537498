"""Saved playlists (and promo pools: playlists with a `promo_type`), one aggregate each.

Uses: `domain.promos.kinds` (the promo types a pool may have).
"""
