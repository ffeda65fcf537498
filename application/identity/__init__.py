"""Who is asking and what they may do: identities and roles (`roles`).

Uses: nothing of ours. Others use: `Identity`, `require`, `require_self_or_admin`,
`Unauthenticated`, `Forbidden`.
"""
