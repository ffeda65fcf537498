"""Identity: signing in by a one-time code sent as a CyTube PM (`otp`), the sessions and token
revocations of each user (`access`), the blessed list (`blessed`) and the addresses blocked from
signing in (`ip_blocks`). Codes never reach this package: only their keyed hashes do.

Uses: nothing of ours beyond the kernel.
"""
