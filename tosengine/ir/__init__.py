"""The typed, frozen IR: what the compiler and runtime read (see :mod:`tosengine.ir.nodes`)."""

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

__all__ = [
    "Action", "AggFunc", "Aggregate", "Binary", "BinaryOp", "Call", "Expr", "FieldRef",
    "Func", "InList", "IsNull", "KeyRef", "Let", "LetRef", "Literal", "Location",
    "MessagePart", "Placeholder", "PlaceholderKind", "Program", "Rule", "Severity",
    "Unary", "UnaryOp", "Value", "Window", "dump",
]
