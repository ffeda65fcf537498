"""The log as the application uses it (shared kernel): its ports (`ports`), where each aggregate
lives (`streams`), load-decide-append (`command_handler`), one shared reader of its tail
(`tail`), back pressure (`intake`), aggregate snapshots (`snapshots`) and ordered reads for
analysis (`replay`).
"""
