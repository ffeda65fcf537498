"""Saved playlists and promo pools: the service (`service`) and the projection (`projection`).

Uses: `application.identity`; `application.cytube` (port, Observer, pacing: an apply adds to
CyTube as purchases do); `domain.queue` (the queue it applies to, and cancelling the purchases a
replace displaces); `domain.promos` (the promo types a pool may have).
Others use: `PlaylistService.pools`, `.non_payable`; `PlaylistApplier` (schedules' fires).
"""
