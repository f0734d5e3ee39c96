"""Repository-level conftest: nothing global; the plugin arrives through its pytest11 entry point."""
