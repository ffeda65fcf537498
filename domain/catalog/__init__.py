"""The channel's media library as time-frozen snapshots: catalog items (`items`), the text
folding search relies on (`text`), the diff between two snapshots (`diff`) and the refresh
aggregate (`model`): started, items indexed in batches, completed or failed.

Uses: nothing of another capability.
"""
