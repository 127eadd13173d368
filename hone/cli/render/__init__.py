"""Terminal output of the `hone` verbs: tables and lines, built with rich."""
