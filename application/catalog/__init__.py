"""The catalog: the channel's media library as time-frozen snapshots in the log, searched from a
read model. The source port (`ports.CatalogSource`, MediaCMS or a file), the refresh process
(`refresh`: one at a time, in batches, resumed after a restart, on a schedule), the projection
into the search read model (`projection`), the search and lookup service (`service`), buying a
catalog item (`purchase`), the catalog-backed media lookup pay may ask (`media_info`) and the
items playlists may ask (`playlist_items`).

Uses: `application.pay.service` (PayService: a catalog purchase is a pay item whose media, title
and duration come from the catalog), `application.pay.media_info` (the shape pay asks),
`application.playlists.catalog` (the shape playlists ask), `application.identity.roles`.
"""
