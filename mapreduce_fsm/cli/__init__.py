"""The command line: one module per command group; each parses, calls the public API, prints."""
