"""The playlists world (a log, a real SQLite read model, the service) for every module here."""

from tests.integration.playlists.test_playlists_projection import world

__all__ = ["world"]
