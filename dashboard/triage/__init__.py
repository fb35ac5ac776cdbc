"""Triage tools of the console: the audit log, retry lineage, payload edits
and rate-limited bulk retries.

Their state lives in the console's triage store (:mod:`.store`), a SQLite
file beside the history store, so it works the same on every queue backend.
"""
