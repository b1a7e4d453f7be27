"""The catalog: every ORM table and the query helpers the services share.

Below the services and above the database: services import it, it imports only the
foundation (db, settings, events, errors). Nothing here checks permissions or decides a
domain rule; that is the services' work. tests/test_layers.py keeps it so.
"""
