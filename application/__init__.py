"""The application layer: ports, command handling, process managers, projections.

Top-level modules are the shared kernel (`clock`, `errors`, `tasks`, `telemetry`), with the
packages `log` (the log's ports, the command handler, the shared tail, intake, snapshots,
replay) and `projections` (the runner and the read-model store port). Every other package is
one capability: it imports the kernel, the domain, and another capability only through the
parts its docstring names.
"""
