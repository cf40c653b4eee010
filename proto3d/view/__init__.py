"""`proto3d view`: a live preview of one .pdsl file in the browser, rendered by proto3d's own renderer.

`Session` watches the file, compiles it and renders frames on one thread; `server` serves the
page, its assets and the session's frames on 127.0.0.1 only; `command` is the CLI.
"""
