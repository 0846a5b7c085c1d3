"""The QA side: many calls into a database, and what a QA team reads out of it.

`batch` analyses folders and manifests with worker processes (or Ray actors) into a
`store` (SQLite or PostgreSQL); `export`, `stats` and `serve` read the store.
"""
