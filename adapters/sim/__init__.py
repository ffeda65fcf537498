"""A simulated CyTube channel on a virtual clock: the embedded default's CyTube."""
