"""Pure domain: deciders (initial, decide, evolve), commands, events. No I/O, no clock."""
