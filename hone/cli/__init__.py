"""The `hone` command: one module per group of verbs, each with its own Typer app; `main` assembles them."""
