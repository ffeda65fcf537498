"""Likes: the service HTTP and NATS call (`service`: like what is playing now), what is
playing (`playing`, read from the queue aggregate), the projection (`projection`: likes per
medium, per queue item and a log of every like) and the queries over it (`queries`: by item,
by medium, by time window, top liked).

Uses: `domain.likes`, `domain.queue` (the queue aggregate, for what is playing),
`application.identity` (Identity, require), `application.stats.queries` (time windows).
Others use: `LikesProjection.count` (the live count of a queue item).
"""
