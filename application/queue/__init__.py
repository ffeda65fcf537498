"""The queue's read side: the shadow projection (each channel's playlist and its payment
ledger, `shadow`), the view with ETAs (`view`), the live fan-out (`live`) and the queue as it
was (`time_travel`).

Others use: `QueueQueries`, `shadow.PAY_ITEMS` / `shadow.PAY_HISTORY` (the pay ledger's rows).
"""
