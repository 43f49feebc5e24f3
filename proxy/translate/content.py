"""Content blocks an OpenAI engine has no form for, as text the model can read. No I/O.

`search_result` blocks keep their title and source; `document` blocks keep their title and context.
A document the engine cannot take (PDF bytes, a URL, an uploaded file) becomes a stand-in naming what
it was, never nothing, so the model can say what it is missing.
"""

from __future__ import annotations

from typing import Any


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _block_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content] if content else []
    if not isinstance(content, list):
        return []
    return [
        b["text"]
        for b in content
        if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str) and b["text"]
    ]


def search_result_text(block: dict[str, Any]) -> str:
    title, source = _str(block.get("title")), _str(block.get("source"))
    head = [f"Search result: {title}" if title else "Search result"]
    if source:
        head.append(f"Source: {source}")
    body = "\n\n".join(_block_texts(block.get("content")))
    return "\n".join(head) + ("\n\n" + body if body else "")


def _size(data: Any) -> str:
    if not isinstance(data, str) or not data:
        return ""
    size = len(data) * 3 // 4  # base64
    return f", {size // 1024} KB" if size >= 1024 else f", {size} bytes"


def document_text(block: dict[str, Any]) -> str:
    raw = block.get("source")
    source: dict[str, Any] = raw if isinstance(raw, dict) else {}
    title, context = _str(block.get("title")), _str(block.get("context"))
    kind = source.get("type")
    head = f"Document: {title}" if title else "Document"
    if context:
        head += f"\nContext: {context}"
    if kind == "text":
        return f"{head}\n\n{_str(source.get('data'))}"
    if kind == "content":
        texts = _block_texts(source.get("content"))
        return f"{head}\n\n" + "\n\n".join(texts)
    name = f'"{title}"' if title else "a document"
    if kind == "base64":
        media = _str(source.get("media_type")) or "application/octet-stream"
        what = "a PDF" if media == "application/pdf" else media
        return f"[{head}\n{name} was attached ({what}{_size(source.get('data'))}) but this model cannot read it]"
    if kind == "url":
        return f"[{head}\n{name} was attached by URL ({_str(source.get('url'))}) but this model cannot open it]"
    if kind == "file":
        return f"[{head}\n{name} was attached as file {_str(source.get('file_id'))} but this model cannot read it]"
    return f"[{head}\n{name} was attached in a form this model cannot read]"
