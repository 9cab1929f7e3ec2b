"""Built-in mengui plugins. Each module is registered through the ``mengui`` entry-point group,
exactly like a third-party plugin, and uses only the public hooks."""
