"""Presence refunds: the monitor that opens grace windows for gone or AFK payers and cancels
their pending items when the window closes (`monitor`).

Uses: `application.cytube` (port, Observer); `domain.queue` (its presence policy over
pending purchases, and cancelling them).
"""
