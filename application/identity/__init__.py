"""Who is asking and what they may do.

`roles` (Identity, require), `facts` (the log's identity facts folded in memory: blessed list,
sessions, token revocations, blocked addresses, CyTube ranks, recent sign-in tries per address),
`signin` (one-time codes by CyTube PM, then a session), `credentials` (a session cookie or a
bearer token to an Identity, its role decided from the facts on every request), `blessed` (the
list, managed by admins) and `mirror` (the list copied to a NATS KV bucket).

Uses: `domain.identity`, and `domain.presence`'s `UserJoined` and `UserRankChanged` (ranks).
Others use: `Identity`, `require`, `require_self_or_admin`, `Unauthenticated`, `Forbidden`.
"""
