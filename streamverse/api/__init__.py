"""The control plane's kernel: tokens and roles, audit, and the request dependencies every area's routes use."""
