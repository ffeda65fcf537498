"""The channel queue aggregate: CyTube's playlist as we observe it, under our own item ids."""
