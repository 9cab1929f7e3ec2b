"""Decisions → lists: the disclosure ladder, the monthly list and its revisions, deductions per doctor."""
