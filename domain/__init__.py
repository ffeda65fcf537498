"""Pure domain: deciders (initial, decide, evolve), commands, events. No I/O, no clock, no
randomness: whatever was chosen at random arrives in the command and is written into the event.

The top-level modules are the shared kernel (`decider`, `errors`, `media`); each package is one
capability and imports the kernel and, where it says so, another capability's named parts.
`registry` lists every capability's events for the codec.
"""
