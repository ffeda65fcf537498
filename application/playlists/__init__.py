"""Saved playlists and promo pools: the service (`service`) and the projection (`projection`).

Uses: `application.identity`. Others use: `PlaylistService.pools`, `.non_payable`.
"""
