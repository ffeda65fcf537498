"""CyTube as the application meets it: the port it is commanded through (`port`), where
observations are handed in (`observations`) and recorded in the log (`observing`), the fresh
snapshots that heal every gap (`resync`), and the add pacer and change signals every process
manager that adds to CyTube shares (`pacing`).

Uses: `domain.queue` (the observation commands and the queue decider it records them through),
`domain.presence` (the presence commands the user list becomes).
Others use: `Cytube`, `CytubeUnavailable`, `Observer`, `AddPacer`, `ChannelSignals`.
"""
