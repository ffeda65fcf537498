"""Promos: the settings service (`service`) and the director that chooses and places promos as
playback advances (`director`).

Uses: `application.cytube` (port, Observer, pacing), `application.identity`; pools come in as
a function (wired from `application.playlists`); `domain.queue` (the promo decisions and
commands, which live with the queue they place into).
"""
