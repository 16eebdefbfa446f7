"""The typed, frozen IR: what the compiler and runtime read (see :mod:`tosengine.ir.nodes`).

``load_paths`` and ``load_text`` read, check and lower rule sets to a
:class:`Program`; both raise :class:`tosengine.language.RuleError`.
"""

from tosengine.ir.nodes import (
    Action,
    AggFunc,
    Aggregate,
    Binary,
    BinaryOp,
    Call,
    Expr,
    FieldRef,
    Func,
    InList,
    IsNull,
    KeyRef,
    Let,
    LetRef,
    Literal,
    Location,
    MessagePart,
    Placeholder,
    PlaceholderKind,
    Program,
    Rule,
    Severity,
    Unary,
    UnaryOp,
    Value,
    Window,
    dump,
)
from tosengine.ir.lower import load_paths, load_text, lower

__all__ = [
    "Action", "AggFunc", "Aggregate", "Binary", "BinaryOp", "Call", "Expr", "FieldRef",
    "Func", "InList", "IsNull", "KeyRef", "Let", "LetRef", "Literal", "Location",
    "MessagePart", "Placeholder", "PlaceholderKind", "Program", "Rule", "Severity",
    "Unary", "UnaryOp", "Value", "Window", "dump", "load_paths", "load_text", "lower",
]
