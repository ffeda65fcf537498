"""Request rules: the limits a channel puts on what viewers may buy, an aggregate of their own."""
