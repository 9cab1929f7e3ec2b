"""Files in → tables: the input kinds and their columns, cell parsing, the all-or-nothing loader."""
