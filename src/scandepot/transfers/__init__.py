"""Transfers between projects: shares (shares.py), and copies and moves (requests.py,
plan.py, copying.py, verify.py, task.py, service.py) run as jobs in the one queue.

A copy hard-links the archived files (never changed in place) under the destination's
labels and writes their catalog rows in one transaction per session; a move then
compares the two sides, from the catalog and from the bytes, and deletes the source only
after a comparison that passed. docs/transfers.md is the user's page.
"""
