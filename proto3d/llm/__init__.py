"""Talking to a model: the OpenAI-protocol and manual backends (client) and the recording and replay of calls (record)."""
