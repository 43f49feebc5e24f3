"""The bridge: Anthropic's Messages API in front of any engine, in three layers.

    client (Claude Code, the anthropic SDK)
        │  HTTP: /v1/messages, /v1/messages/count_tokens, /v1/models, /health, /metrics
        ▼
    server.py        the aiohttp edge: token check, Host check, body and header limits, request ids,
        │            Anthropic-shaped errors, the log line. Knows nothing of dialects.
        ▼
    relay.py         one request through the engine and back: native Anthropic routes pass through,
        │            OpenAI routes are translated; time limits, retries, max_tokens clamp, errors
        │            mid-stream. websearch/loop.py wraps it when the request carries `web_search`.
        ├──▶ translate/   sans-I/O: Messages request → chat completions request (request.py, tools.py,
        │                 thinking.py, toolsearch.py, shape.py, content.py), chunks → Anthropic events
        │                 (stream.py; response.py runs a whole completion through the same machine),
        │                 engine errors → Anthropic errors (errors.py), SSE bytes in and out (sse.py;
        │                 doctor's smoke test reads streams with its EventDecoder too), strict request
        │                 checks (validate.py), the wire shapes as TypedDicts (types.py). Pure functions
        │                 and state machines over dicts and bytes: no sockets, files, clocks or processes,
        │                 so every rule is tested with plain data (tests/test_import_rules.py enforces it).
        └──▶ upstream.py  the one HTTP client to the engine (redirects refused, answers size-capped),
                          with what it learns of the engine (window, token counting; capabilities.py
                          per model).

Around them: `config.py` (what a bridge knows about its upstream, no I/O), `runner.py` (start and stop a
bridge in the current event loop: `ccb launch`'s in-process bridge), `__main__.py` (the lean `ccb serve`
process), `keeper.py` (holds a background bridge's port while it restarts), `entry.py` (the private spec
both are handed, their lines on stderr), `privatefiles.py` (0600 files, 0700 folders), `workers.py` (N processes on
one port), `connguard.py`, `wire_errors.py` (Anthropic JSON for requests aiohttp's parser refuses), `memory.py`, `metrics.py`, `affinity.py`, `requestid.py`, `logsetup.py`,
`jsonio.py`, `net.py`.

The bridge stands on its own: nothing in `ccb.proxy` imports `ccb.cli`; the CLI builds a `BridgeConfig` and
either runs the bridge in its own loop (`runner`) or hands the configuration to a separate process through a
private file descriptor, never the command line or the environment.
"""
