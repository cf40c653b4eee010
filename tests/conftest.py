"""Hypothesis explores new examples on every local run; CI (`CI` set, as .ci/run does) replays
the same ones each time, so a merge is never failed by an example nobody has seen before."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
