"""The wire shapes the translator reads and writes, as `TypedDict`s. No I/O, no runtime cost.

Anthropic side: the Messages request and its content blocks (what `validate` checks and `request` reads),
the stream events `stream.StreamTranslator` emits and `response.accumulate` folds, and the error body.
OpenAI side: the chat completions request `request.translate` builds, and the stream chunk and whole
completion `stream` and `response` read. Each lists the fields ccb touches; real messages carry more.

These are annotations only: a `TypedDict` is a plain `dict` at run time, nothing is validated or copied.
Where code walks JSON of arbitrary shape they stay out of the way, and that code keeps `dict[str, Any]`:
  - the request side (`request`, `shape`, `thinking`, `tools`, `toolsearch`, `client_tools`) reads client
    JSON leniently (unknown fields and block types pass; `validate` checks the rest first), and mypy lets a
    `TypedDict` flow neither into nor out of the `dict[str, Any]` helpers that walk it;
  - the chat completions body is built with keys that depend on the engine's dialect (`max_tokens` or
    `max_completion_tokens`, each engine's thinking switch, continuation flags), which a `TypedDict` cannot name;
  - readers of finished events (`accumulate`, `sse.encode`) take `Mapping[str, Any]`, which every event satisfies.
Engines are not trusted to follow their shape: the OpenAI-side types say what a well-behaved engine sends,
and the code reading them still checks types where engines are known to differ (see reference/engines.md).
"""

# No `from __future__ import annotations` here: Python 3.11 reads NotRequired[...] only from evaluated annotations,
# and tests check real messages against these types at run time (their __required_keys__).
from typing import Any, Literal, NotRequired, TypedDict

# -- Anthropic Messages request ---------------------------------------------------------------


class CacheControl(TypedDict):
    type: Literal["ephemeral"]
    ttl: NotRequired[str]


class TextBlock(TypedDict):
    type: Literal["text"]
    text: str
    cache_control: NotRequired[CacheControl | None]
    citations: NotRequired[list[dict[str, Any]] | None]


class Base64Source(TypedDict):
    type: Literal["base64"]
    media_type: str
    data: str


class URLSource(TypedDict):
    type: Literal["url"]
    url: str


class ImageBlock(TypedDict):
    type: Literal["image"]
    source: Base64Source | URLSource
    cache_control: NotRequired[CacheControl | None]


class DocumentBlock(TypedDict):
    type: Literal["document"]
    source: dict[str, Any]  # base64 PDF, plain text, a list of content blocks, or a URL
    title: NotRequired[str | None]
    context: NotRequired[str | None]
    cache_control: NotRequired[CacheControl | None]


class SearchResultBlock(TypedDict):
    type: Literal["search_result"]
    source: str
    title: str
    content: list[TextBlock]
    cache_control: NotRequired[CacheControl | None]


class ToolUseBlock(TypedDict):
    type: Literal["tool_use"]
    id: str
    name: str
    # Claude Code echoes arguments it could not parse as {"__unparsedToolInput": {"raw": ..., "len": ...}}.
    input: dict[str, Any]
    cache_control: NotRequired[CacheControl | None]


class ToolReferenceBlock(TypedDict):
    """One tool a ToolSearch call found (inside a tool_result)."""

    type: Literal["tool_reference"]
    tool_name: str


class ToolResultBlock(TypedDict):
    type: Literal["tool_result"]
    tool_use_id: str
    content: NotRequired[str | list[TextBlock | ImageBlock | DocumentBlock | SearchResultBlock | ToolReferenceBlock]]
    is_error: NotRequired[bool]
    cache_control: NotRequired[CacheControl | None]


class ThinkingBlock(TypedDict):
    type: Literal["thinking"]
    thinking: str
    signature: str


class RedactedThinkingBlock(TypedDict):
    type: Literal["redacted_thinking"]
    data: str


class ServerToolUseBlock(TypedDict):
    """A server tool call (web search) the bridge ran itself."""

    type: Literal["server_tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class WebSearchToolResultBlock(TypedDict):
    type: Literal["web_search_tool_result"]
    tool_use_id: str
    content: list[dict[str, Any]] | dict[str, Any]  # the results, or an error object


ContentBlock = (
    TextBlock
    | ImageBlock
    | DocumentBlock
    | SearchResultBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
    | ServerToolUseBlock
    | WebSearchToolResultBlock
)


class MessageParam(TypedDict):
    role: Literal["user", "assistant", "system"]  # "system" turns are accepted and folded into the system prompt
    content: str | list[ContentBlock]


class ToolDefinition(TypedDict):
    """A client tool; server tools (web search, …) carry a `type` and their own fields instead."""

    name: str
    description: NotRequired[str]
    input_schema: dict[str, Any]
    type: NotRequired[str]
    defer_loading: NotRequired[bool]  # offered only once a ToolSearch call finds it
    cache_control: NotRequired[CacheControl | None]


class ToolChoice(TypedDict):
    type: Literal["auto", "any", "tool", "none"]
    name: NotRequired[str]  # with "tool"
    disable_parallel_tool_use: NotRequired[bool]


class ThinkingConfig(TypedDict):
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: NotRequired[int]  # with "enabled"


class OutputFormat(TypedDict):
    type: Literal["json_schema"]
    schema: dict[str, Any]


class OutputConfig(TypedDict, total=False):
    effort: str
    format: OutputFormat | None


class MessagesRequest(TypedDict):
    """`POST /v1/messages` (and `/v1/messages/count_tokens`, without `max_tokens`), as Claude Code sends it."""

    model: str
    messages: list[MessageParam]
    max_tokens: NotRequired[int]
    system: NotRequired[str | list[TextBlock]]  # the first text may be Claude Code's billing header, dropped
    tools: NotRequired[list[ToolDefinition]]
    tool_choice: NotRequired[ToolChoice]
    stream: NotRequired[bool]
    temperature: NotRequired[float]
    top_p: NotRequired[float]
    top_k: NotRequired[int]
    stop_sequences: NotRequired[list[str]]
    thinking: NotRequired[ThinkingConfig]
    output_config: NotRequired[OutputConfig]
    output_format: NotRequired[OutputFormat]  # the structured-outputs beta's spelling of output_config.format
    metadata: NotRequired[dict[str, Any]]  # {"user_id": ...}; not forwarded
    context_management: NotRequired[dict[str, Any]]  # not forwarded


# -- Anthropic stream events (what StreamTranslator emits) --------------------------------------


class Usage(TypedDict):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    server_tool_use: NotRequired[dict[str, int]]  # {"web_search_requests": n, ...} after bridge-run searches


class Message(TypedDict):
    """The message `message_start` opens: empty content, no stop reason yet, an estimated usage."""

    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[ContentBlock]
    stop_reason: str | None
    stop_sequence: str | None
    usage: Usage


class MessageStartEvent(TypedDict):
    type: Literal["message_start"]
    message: Message


class PingEvent(TypedDict):
    type: Literal["ping"]


class ContentBlockStartEvent(TypedDict):
    type: Literal["content_block_start"]
    index: int
    # Always empty: text "", thinking "" with signature "", tool_use with input {}.
    content_block: TextBlock | ThinkingBlock | ToolUseBlock | ServerToolUseBlock | WebSearchToolResultBlock


class TextDelta(TypedDict):
    type: Literal["text_delta"]
    text: str


class ThinkingDelta(TypedDict):
    type: Literal["thinking_delta"]
    thinking: str


class SignatureDelta(TypedDict):
    type: Literal["signature_delta"]
    signature: str


class InputJSONDelta(TypedDict):
    type: Literal["input_json_delta"]
    partial_json: str  # a piece of the tool arguments' JSON text, only whole once the block stops


class ContentBlockDeltaEvent(TypedDict):
    type: Literal["content_block_delta"]
    index: int
    delta: TextDelta | ThinkingDelta | SignatureDelta | InputJSONDelta


class ContentBlockStopEvent(TypedDict):
    type: Literal["content_block_stop"]
    index: int


class MessageDelta(TypedDict):
    stop_reason: str
    stop_sequence: str | None


class MessageDeltaEvent(TypedDict):
    type: Literal["message_delta"]
    delta: MessageDelta
    usage: Usage  # the final count (Anthropic's own may omit all but output_tokens)


class MessageStopEvent(TypedDict):
    type: Literal["message_stop"]


class ErrorDetail(TypedDict):
    type: str  # invalid_request_error, authentication_error, …, api_error, overloaded_error
    message: str


class ErrorResponse(TypedDict):
    """An error answer's JSON body, and the data of an `event: error` that ends a stream early."""

    type: Literal["error"]
    error: ErrorDetail
    request_id: NotRequired[str]


StreamEvent = (
    MessageStartEvent
    | PingEvent
    | ContentBlockStartEvent
    | ContentBlockDeltaEvent
    | ContentBlockStopEvent
    | MessageDeltaEvent
    | MessageStopEvent
    | ErrorResponse
)
# (event name, data): the name always equals data["type"].
Event = tuple[str, StreamEvent]

# -- OpenAI chat completions request (what request.translate builds) ---------------------------


class FunctionCall(TypedDict):
    name: str
    arguments: str  # JSON text


class ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall


class ChatMessage(TypedDict):
    """One message; assistant turns may carry `tool_calls` and the dialect's reasoning field."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]]  # text, or text and image_url parts
    tool_calls: NotRequired[list[ToolCall]]
    tool_call_id: NotRequired[str]  # on "tool" messages


class ChatCompletionRequest(TypedDict):
    """The fields every dialect shares; a dialect adds its own (thinking switches, continuation flags)."""

    model: str
    messages: list[ChatMessage]
    max_tokens: NotRequired[int]
    max_completion_tokens: NotRequired[int]  # instead of max_tokens, for dialects that want it
    stream: NotRequired[bool]
    stream_options: NotRequired[dict[str, bool]]  # {"include_usage": True}
    temperature: NotRequired[float]
    top_p: NotRequired[float]
    top_k: NotRequired[int]
    stop: NotRequired[list[str]]
    tools: NotRequired[list[dict[str, Any]]]  # {"type": "function", "function": {name, description, parameters}}
    tool_choice: NotRequired[str | dict[str, Any]]
    response_format: NotRequired[dict[str, Any]]


# -- OpenAI chat completion chunks and completions (what stream and response read) -------------


class ChunkFunction(TypedDict, total=False):
    name: str | None
    arguments: str | dict[str, Any] | None  # some engines send the arguments as an object


class ChunkToolCall(TypedDict, total=False):
    """A piece of a tool call: the id and name usually come first, the arguments in pieces after."""

    index: int  # missing on some engines, reused for several calls on others (Ollama, gpt-oss)
    id: str | None
    type: str
    function: ChunkFunction


class ChunkDelta(TypedDict, total=False):
    role: str | None  # null on later chunks (SGLang)
    content: str | None  # may hold inline <think>…</think>
    reasoning: str | None  # vLLM, Ollama, gpt-oss
    reasoning_content: str | None  # llama.cpp, SGLang, DeepSeek
    tool_calls: list[ChunkToolCall] | None


class ChunkChoice(TypedDict, total=False):
    index: int
    delta: ChunkDelta
    message: ChunkDelta  # a whole message where a delta belongs (some engines; every completion_to_chunk)
    finish_reason: str | None
    stop_reason: str | int | None  # vLLM: the stop sequence (or token id) that ended the answer
    matched_stop: str | int | None  # SGLang's name for it


class PromptTokensDetails(TypedDict, total=False):
    cached_tokens: int | None


class CompletionUsage(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None


class ChatCompletionChunk(TypedDict, total=False):
    """One `data:` payload of a stream. The usage chunk has `choices: []`; an error chunk has only `error`."""

    id: str
    object: str
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None
    error: Any  # an engine's error in the middle of a stream: a string or an object, by engine


class CompletionChoice(TypedDict, total=False):
    index: int
    message: ChunkDelta  # a whole assistant message: the same fields a delta carries
    finish_reason: str | None
    stop_reason: str | int | None
    matched_stop: str | int | None


class ChatCompletion(TypedDict, total=False):
    """A non-streaming answer (or an error body: some engines answer 200 with only `error`)."""

    id: str
    object: str
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage | None
    error: Any
