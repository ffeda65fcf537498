"""Entrypoints: the composition root (`bootstrap`, the only builder of adapters), one wiring
module per capability (`wiring`), the running service's type (`services`), the program
(`serve`), HTTP and pages (`http`), NATS command subjects (`nats_commands`), the CLI (`cli`),
settings (`config`), and request bodies HTTP and NATS share (`schemas`).
"""
