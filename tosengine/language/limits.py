"""Limits that keep hostile rule text from exhausting time, memory or the stack.

Each limit is generous for real policies; going past one is a clear error.
"""

#: Largest rule file, in bytes of UTF-8.
MAX_FILE_BYTES = 1 << 20
#: Most rule files in one rule set.
MAX_FILES = 10_000
#: Deepest expression nesting (each operator, call, list or parenthesis is a level).
MAX_DEPTH = 64
#: Most top-level declarations in one rule set.
MAX_DECLARATIONS = 10_000
#: Most ``let`` clauses in one rule.
MAX_LETS = 1_000
#: Longest string literal, in characters after decoding escapes.
MAX_STRING_CHARS = 65_536
#: Longest name (identifier), in characters.
MAX_NAME_CHARS = 128
#: Largest list file, in bytes.
MAX_LIST_FILE_BYTES = 16 << 20

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
