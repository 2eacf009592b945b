"""The control plane's kernel: tokens, roles, audit, and the request dependencies of every route."""
