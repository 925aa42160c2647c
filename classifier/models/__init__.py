"""One module per family. Every module here is imported by the registry on first use."""
