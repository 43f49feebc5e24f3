"""The 24 tools Claude Code 2.1.197 offers in `-p` mode, as JSON schemas for the benchmark's requests. No I/O.

Names and schema keywords follow shared/reference/claude-code.md §6 (`$schema`, `enum`, `format`,
`propertyNames`, open `additionalProperties`, `anyOf` + `const`, bounds, `pattern`, `default`); the
descriptions are the benchmark's own short text (payloads.py lengthens them with filler).
"""

from __future__ import annotations

from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _schema(props: dict[str, Any], required: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "$schema": DRAFT,
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
        **extra,
    }


def _s(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def tool_schemas() -> dict[str, dict[str, Any]]:
    todo = {
        "type": "object",
        "properties": {
            "content": _s("What to do", minLength=1),
            "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
            "activeForm": _s("Present-tense form shown while working", minLength=1),
        },
        "required": ["content", "status", "activeForm"],
        "additionalProperties": False,
    }
    return {
        "Agent": _schema(
            {
                "description": _s("A short (3-5 word) description of the task"),
                "prompt": _s("The task for the agent to perform"),
                "subagent_type": _s("The type of specialized agent to use for this task"),
                "model": {
                    "type": "string",
                    "enum": ["sonnet", "opus", "haiku", "inherit"],
                    "description": "Optional model override for this agent",
                },
                "run_in_background": {"type": "boolean", "description": "Run the agent in the background"},
            },
            ["description", "prompt", "subagent_type"],
        ),
        "Bash": _schema(
            {
                "command": _s("The command to execute"),
                "timeout": {"type": "number", "description": "Optional timeout in milliseconds (max 600000)"},
                "description": _s("Clear, concise description of what this command does in 5-10 words"),
                "run_in_background": {"type": "boolean", "description": "Run this command in the background"},
                "dangerouslyDisableSandbox": {"type": "boolean", "description": "Run without the sandbox"},
            },
            ["command"],
        ),
        "CronCreate": _schema(
            {
                "schedule": _s("A cron expression with five fields", pattern="^\\S+( \\S+){4}$"),
                "prompt": _s("The prompt to run on schedule", minLength=1),
                "name": _s("A short label for the job", maxLength=64),
            },
            ["schedule", "prompt"],
        ),
        "CronDelete": _schema({"id": _s("The id of the job to delete")}, ["id"]),
        "CronList": _schema({}, []),
        "Edit": _schema(
            {
                "file_path": _s("The absolute path to the file to modify"),
                "old_string": _s("The text to replace"),
                "new_string": _s("The text to replace it with (must be different from old_string)"),
                "replace_all": {
                    "type": "boolean",
                    "default": False,
                    "description": "Replace all occurrences",
                },
            },
            ["file_path", "old_string", "new_string"],
        ),
        "EnterWorktree": _schema(
            {
                "branch": _s("Branch to check out in the new worktree"),
                "path": _s("Where to create the worktree"),
            },
            ["branch"],
        ),
        "ExitWorktree": _schema(
            {
                "action": {"type": "string", "enum": ["keep", "remove"], "description": "What to do with it"},
            },
            ["action"],
        ),
        "NotebookEdit": _schema(
            {
                "notebook_path": _s("The absolute path to the Jupyter notebook file to edit"),
                "cell_id": _s("The ID of the cell to edit"),
                "new_source": _s("The new source for the cell"),
                "cell_type": {
                    "type": "string",
                    "enum": ["code", "markdown"],
                    "description": "The type of the cell",
                },
                "edit_mode": {
                    "type": "string",
                    "enum": ["replace", "insert", "delete"],
                    "description": "The type of edit to make",
                },
            },
            ["notebook_path", "new_source"],
        ),
        "Read": _schema(
            {
                "file_path": _s("The absolute path to the file to read"),
                "offset": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 9007199254740991,
                    "description": "The line number to start reading from",
                },
                "limit": {
                    "type": "integer",
                    "exclusiveMinimum": 0,
                    "maximum": 9007199254740991,
                    "description": "The number of lines to read",
                },
                "pages": _s('Page range for PDF files, e.g. "1-5"'),
            },
            ["file_path"],
        ),
        "ReportFindings": _schema(
            {
                "findings": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 50,
                    "items": {
                        "type": "object",
                        "properties": {
                            "title": _s("One line"),
                            "severity": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
                            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                            "file": _s("Path of the file concerned"),
                            "line": {"type": "integer", "exclusiveMinimum": 0},
                        },
                        "required": ["title", "severity"],
                        "additionalProperties": False,
                    },
                },
            },
            ["findings"],
        ),
        "ScheduleWakeup": _schema(
            {
                "delay_seconds": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 86400,
                    "description": "Seconds from now",
                },
                "note": _s("What to pick up on waking"),
            },
            ["delay_seconds"],
        ),
        "SendMessage": _schema(
            {
                "to": _s("Recipient agent id", minLength=1, maxLength=128),
                "message": _s("The message body", minLength=1),
            },
            ["to", "message"],
        ),
        "Skill": _schema(
            {
                "skill": _s('The skill name, e.g. "pdf" or "xlsx"'),
                "args": _s("Optional arguments for the skill"),
            },
            ["skill"],
        ),
        "TaskCreate": _schema(
            {
                "subject": _s("A brief title for the task"),
                "description": _s("What needs to be done"),
                "metadata": {
                    "type": "object",
                    "propertyNames": {"type": "string"},
                    "additionalProperties": {},
                    "description": "Arbitrary metadata",
                },
                "todos": {"type": "array", "items": todo},
            },
            ["subject", "description"],
        ),
        "TaskGet": _schema({"taskId": _s("The ID of the task to retrieve")}, ["taskId"]),
        "TaskList": _schema({}, []),
        "TaskOutput": _schema(
            {
                "task_id": _s("The task ID to get output from"),
                "block": {
                    "type": "boolean",
                    "default": True,
                    "description": "Whether to wait for completion",
                },
                "timeout": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 600000,
                    "default": 30000,
                    "description": "Max wait time in ms",
                },
            },
            ["task_id", "block", "timeout"],
        ),
        "TaskStop": _schema({"task_id": _s("The ID of the background task to stop")}, []),
        "TaskUpdate": _schema(
            {
                "taskId": _s("The ID of the task to update"),
                "status": {
                    "anyOf": [
                        {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                        {"type": "string", "const": "deleted"},
                    ]
                },
                "subject": _s("New subject for the task"),
                "addBlocks": {"type": "array", "items": {"type": "string"}},
                "metadata": {
                    "type": "object",
                    "propertyNames": {"type": "string"},
                    "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
                },
            },
            ["taskId"],
        ),
        "WebFetch": _schema(
            {
                "url": _s("The URL to fetch content from", format="uri"),
                "prompt": _s("The prompt to run on the fetched content"),
            },
            ["url", "prompt"],
        ),
        "WebSearch": _schema(
            {
                "query": _s("The search query to use", minLength=2),
                "allowed_domains": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Only include search results from these domains",
                },
                "blocked_domains": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Never include search results from these domains",
                },
            },
            ["query"],
        ),
        "Workflow": _schema(
            {
                "name": _s("Workflow name", pattern="^[a-z][a-z0-9-]*$", maxLength=64),
                "inputs": {"type": "object", "propertyNames": {"type": "string"}, "additionalProperties": {}},
                "steps": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "tool": _s("Tool to call"),
                            "input": {"type": "object", "additionalProperties": {}},
                            "when": _s("Condition", maxLength=500),
                        },
                        "required": ["tool"],
                        "additionalProperties": False,
                    },
                },
            },
            ["name"],
        ),
        "Write": _schema(
            {
                "file_path": _s("The absolute path to the file to write (must be absolute, not relative)"),
                "content": _s("The content to write to the file"),
            },
            ["file_path", "content"],
        ),
    }
