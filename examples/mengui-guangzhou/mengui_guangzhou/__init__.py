"""Guangzhou's outpatient caps for residents, as a mengui-audit plugin."""
