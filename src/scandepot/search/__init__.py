"""Searching the archive as XNAT's search does: rows of one kind of object (projects,
subjects, sessions of a type, scans) with the fields asked for, matched by a tree of
criteria joined with AND and OR.

:mod:`criteria` holds the tree an interface parses a search into (``POST /data/search``
parses XNAT's ``xdat:search`` document), :mod:`elements` the kinds of object and the
fields each offers, :mod:`engine` turns a search into one SQL query on the catalog,
limited by :func:`scandepot.access.permissions.permission_clause`: what the caller may not
read is never matched, returned or counted.
"""
