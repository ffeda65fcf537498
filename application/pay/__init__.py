"""Pay-to-play: the economy port (`economy`), the service HTTP and NATS call (`service`), and
the process manager that settles each purchase (`flow`: spend, add, move, refund).

Uses: `application.cytube` (port, Observer, pacing), `application.queue.shadow` (ledger rows),
`application.identity`; `domain.queue` (purchases are decided in the queue aggregate: pay
items, claims, the rules' refusals) and `domain.wallet` (the ledger's events).
"""
