"""Anthropic-defined client tools (bash, text editor, memory, computer use) as plain function tools. No I/O.

These tools are declared by `type` alone (`{"type": "bash_20250124", "name": "bash"}`): Anthropic's
models know their input shape by heart, an engine's model does not. The client runs them, so they
reach the engine as functions with the documented input schema and a description of their own.
Server tools (web search, code execution, …) are not here: they stay server-side.
"""

from __future__ import annotations

from typing import Any

_STR = {"type": "string"}
_INT = {"type": "integer"}


def _obj(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


_BASH = (
    (
        "Run a command in a persistent bash shell and get its output. State (working directory, variables) "
        "carries over between calls; set restart to true to start a fresh shell."
    ),
    _obj(
        {
            "command": {**_STR, "description": "The command to run."},
            "restart": {"type": "boolean", "description": "Restart the shell instead of running a command."},
        },
        [],
    ),
)


def _editor(commands: list[str]) -> tuple[str, dict[str, Any]]:
    description = (
        "View, create and edit text files. Commands: " + ", ".join(commands) + ". view shows a file with line "
        "numbers (or lists a directory); create writes file_text to a new file; str_replace replaces the one "
        "exact occurrence of old_str with new_str; insert puts insert_text (or new_str) after line insert_line"
        + ("; undo_edit reverts the last edit of path." if "undo_edit" in commands else ".")
    )
    schema = _obj(
        {
            "command": {"type": "string", "enum": commands},
            "path": {**_STR, "description": "Absolute path of the file or directory."},
            "file_text": {**_STR, "description": "Content of the new file (create)."},
            "old_str": {**_STR, "description": "Exact text to replace (str_replace)."},
            "new_str": {**_STR, "description": "Replacement text (str_replace), or text to insert (insert)."},
            "insert_text": {**_STR, "description": "Text to insert (insert)."},
            "insert_line": {**_INT, "description": "Line after which to insert; 0 inserts at the top (insert)."},
            "view_range": {
                "type": "array",
                "items": _INT,
                "minItems": 2,
                "maxItems": 2,
                "description": "First and last line to show, -1 for the end (view).",
            },
        },
        ["command", "path"],
    )
    return description, schema


_MEMORY = (
    (
        "Read and write files in the /memories directory that persist between conversations. Commands: view, "
        "create, str_replace, insert, delete, rename."
    ),
    _obj(
        {
            "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "delete", "rename"]},
            "path": _STR,
            "view_range": {"type": "array", "items": _INT},
            "file_text": _STR,
            "old_str": _STR,
            "new_str": _STR,
            "insert_line": _INT,
            "insert_text": _STR,
            "old_path": _STR,
            "new_path": _STR,
        },
        ["command"],
    ),
)

_COMPUTER_ACTIONS = [
    "key",
    "type",
    "mouse_move",
    "left_click",
    "left_click_drag",
    "right_click",
    "middle_click",
    "double_click",
    "screenshot",
    "cursor_position",
]
_COMPUTER_NEWER = ["scroll", "triple_click", "left_mouse_down", "left_mouse_up", "hold_key", "wait"]


def _computer(tool: dict[str, Any], actions: list[str]) -> tuple[str, dict[str, Any]]:
    width, height = tool.get("display_width_px"), tool.get("display_height_px")
    screen = f" The screen is {width}x{height} pixels." if isinstance(width, int) and isinstance(height, int) else ""
    description = (
        "Control the computer's mouse and keyboard and take screenshots. Coordinates are [x, y] in "
        "pixels from the top left." + screen
    )
    pair = {"type": "array", "items": _INT, "minItems": 2, "maxItems": 2}
    schema = _obj(
        {
            "action": {"type": "string", "enum": actions},
            "coordinate": pair,
            "start_coordinate": pair,
            "text": {**_STR, "description": "Text to type, or the key or key combination (e.g. ctrl+s)."},
            "scroll_direction": {"type": "string", "enum": ["up", "down", "left", "right"]},
            "scroll_amount": _INT,
            "duration": {"type": "number"},
            "key": _STR,
        },
        ["action"],
    )
    return description, schema


def _definition(tool: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    kind = tool.get("type")
    if not isinstance(kind, str):
        return None
    family, _, version = kind.rpartition("_")
    if not version.isdigit():
        return None
    if family == "bash":
        return _BASH
    if family == "text_editor":
        commands = ["view", "create", "str_replace", "insert"]
        return _editor(commands + ["undo_edit"] if version < "20250429" else commands)
    if family == "memory":
        return _MEMORY
    if family == "computer":
        return _computer(tool, _COMPUTER_ACTIONS + (_COMPUTER_NEWER if version >= "20250124" else []))
    return None


def is_client_tool(tool: Any) -> bool:
    return isinstance(tool, dict) and _definition(tool) is not None


def expand(tools: list[Any]) -> list[Any]:
    """`tools` with every Anthropic-defined client tool replaced by a custom tool carrying its schema."""
    if not any(is_client_tool(t) for t in tools):
        return tools
    out: list[Any] = []
    for tool in tools:
        found = _definition(tool) if isinstance(tool, dict) else None
        if found is None:
            out.append(tool)
            continue
        description, schema = found
        out.append({"name": tool.get("name"), "description": description, "input_schema": schema})
    return out
