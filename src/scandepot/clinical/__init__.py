"""Clinical data: each project's variables (a JSON Schema per level, versioned), and the
records of its subjects and sessions: created and changed through the API, imported from
CSV with a row-by-row report, exported as CSV and JSON (de-identified by the project's
pseudonyms on the way out), with the history of who changed what.

docs/clinical.md is the user's page.
"""
