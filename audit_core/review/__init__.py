"""Flags → decisions: the committee's verdicts, doctors' appeals and the second review."""
