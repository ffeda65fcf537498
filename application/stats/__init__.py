"""Channel stats: the projection (`projection`) and the queries over it (`queries`).

Uses: the kernel, and the events it counts: `domain.queue` (adds, removals, what plays,
purchases, promos), `domain.likes` (`Liked`) and `domain.rules` (`RequestRefusedByRule`).
"""
