"""What users read: the terminal tables (terminal.py), the Markdown report and its figures (markdown.py) and
the self-contained HTML page (html.py)."""
