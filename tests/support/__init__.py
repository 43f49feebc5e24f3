"""What tests share, apart from the fakes (tests/fakes/):

- `servers`: aiohttp apps on 127.0.0.1 port 0, on the test's loop or a thread's (`ServerThread`);
- `processes`: ccb as a child process (`run_ccb`, `ServeProcess`) and the real llama.cpp server;
- `cli`: ccb in-process for set-up steps, and the native-Anthropic profile many tests add;
- `sse`: the bridge's Anthropic streams re-read through the product's own decoder and reducer;
- `claude`: the real Claude Code CLI (npm, pinned), once per tested release;
- `doctor`: `ccb doctor` set-up and result helpers;
- `pty_session`, `tmux`: the CLI and Claude Code on a real pseudo-terminal or in tmux.
"""
