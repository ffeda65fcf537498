"""Scheduled events: the schedule aggregate (model) and the pure expansion of a recurrence
rule into occurrences (occurrences)."""
