"""One module per `ccb` command (or command group): parse the options, call the services, print.

A command never imports another command; what two commands share is a service in `ccb.cli` (see its docstring).
`ccb.cli.app` registers them and is the only place an error becomes an exit code.
"""
