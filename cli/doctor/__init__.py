"""`ccb doctor`'s checks: every reason Claude Code would not work with a backend, and what to do about each.

A check is a `Check(id, area, status, finding, fix)` (`context.py`); the areas, in report order, and the module that
owns each (docs/doctor.md is this catalogue's user-facing twin, with the JSON schema):

- `claude` (`claude.py`): `claude.found`, `claude.runnable`, `claude.version`, `claude.onboarding`.
- `settings` (`claude.py`): `settings.valid.<layer>` for each settings file Claude Code reads, `settings.model`.
- `env` (`claude.py`): `env.source.<NAME>` (where each variable Claude Code sees comes from),
  `env.conflict.<NAME>`, `env.cloud_provider`.
- `auth` (`claude.py`): `auth.both_set`, `auth.saved_login`.
- `baseurl` (`url.py`): `baseurl.localhost`, `baseurl.openai_only`, `baseurl.proxy`.
- `profile`, `backend` (`backend.py`): `profile.selected`, `profile.key`, `profile.model`, `launch.route`,
  `backend.reachable`, `backend.auth`, `backend.model`.
- `engine` (`engine.py`): `engine.found`, `engine.context`, `engine.tools`, `engine.reasoning`,
  `engine.native_messages`; for ccb's built-in engine also (`embedded.py`) `engine.extra`, `engine.model`,
  `engine.memory`, `engine.window`, after which doctor starts that engine and checks it like any other.
- `smoke` (`smoke.py`): `smoke.stream`, `smoke.tools`: two tiny requests along the path `ccb launch` would use.
- `bridge` (`bridge.py`): `bridge.daemon`, `bridge.profile`, `bridge.settings_port`, `bridge.login_service`: the
  detached bridge, whether it serves the profile plain `claude` is switched to, who listens on its port, and
  the login service that takes the port back at every login.
- `websearch` (`websearch.py`): `websearch.backend`, `websearch.key`.

`run.py` gathers the context once (settings layers, effective environment, the profile, the engine probe), runs the
independent checks at the same time, and returns the verdicts in report order and as text or JSON; nothing here
prints: `ccb.cli.commands.doctor` does.
"""
