"""Channel stats: the projection (`projection`) and the queries over it (`queries`).

Uses: the kernel and the domain's queue events only.
"""
