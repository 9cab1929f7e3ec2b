from .app import cli

cli(prog_name="mengui")
