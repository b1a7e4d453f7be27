"""Datasets: named selections of subjects and sessions from one or several projects,
with descriptive metadata, released as frozen versions (a manifest of the exact files, by
checksum), validated by a curator, published as aggregated metadata only, and read by
users whose access request the owners approved.

Who may do what is decided in :mod:`scandepot.access.datasets`; the tables are in
:mod:`scandepot.catalog.datasets`. docs/datasets.md is the user's page.
"""
