"""The rule language front end: parse `.tos` text, check it against a schema."""
