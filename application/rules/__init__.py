"""Request rules: the settings admins read and change, and what the pay decision is handed.

Uses: `application.identity` (who may change them); `domain.queue` (the queue order a
`fair_order` change sets).
Others use: `RulesService`, plugged into the pay service as its `RequestRules` port
(`application.pay.rules`, wired in entrypoints/wiring/rules.py), and by HTTP and NATS.
"""
