"""The admin's projections viewer: status, rebuilds, rows and commits (`viewer`).

Uses: `application.identity`.
"""
