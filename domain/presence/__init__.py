"""The presence aggregate: who is in the channel and who is AFK, as CyTube reports it.

Uses: the kernel only.
"""
