"""One module per capability: what it builds from the kernel and the adapters bootstrap made,
the projections it owns, and the work it runs in the background.

Each module has one `wire_*` function that returns its capability (a small attrs class) and
builds no adapter: adapters are built in `entrypoints.bootstrap` only and handed in. A
capability's dependencies on another are its wire function's parameters, so the order of the
calls in `bootstrap.build_services` is the dependency order.
"""
