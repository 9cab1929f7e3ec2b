"""Storage: the database schema (numbered migrations), owner-only files, backups."""
