"""The agent loop: designer, coder and inspector roles played by an LLM (loop), the run folder
(run), answer schemas (schema), the plan's yes/no questions (questions), shape-parameter checks
(variants), batches (batch) and the `proto3d agent` command (command)."""
