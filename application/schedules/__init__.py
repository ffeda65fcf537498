"""Scheduled events: the admin service and the firing process manager.

Uses: `application.identity` (who may schedule); `application.playlists` (`PlaylistService`
to find a schedule's playlist, `PlaylistApplier` to load it at the fire) and `domain.playlists`
(`ApplyRun`); `domain.queue` (the event lock, and the purchases a fire displaces).
"""
