"""Shared test set-up.

Layout: the tests mirror the source tree (tests/grammar, tests/compiler, tests/renderer,
tests/agent, tests/dataset, tests/experiment; cross-cutting ones here), and what several of them
build lives in tests/helpers, imported as `from tests.helpers.X import ...`:

- `strategies`: hypothesis strategies of programs and mutants, the fuzzing families
  (`FAMILIES`, `run_input`), and `fast(n)`, the settings of a property test;
- `fake_openai`: a local server speaking the OpenAI protocol (`FakeOpenAI`), scripted replies,
  and hostile ones (`Slow`, `Status`, `Drip`, `EchoHeaders`, `Raw`); no test uses the network;
- `agent_script`: the scripted model of the agent tests (a table: designer answers, programs,
  verdicts), `responder` answering each role, `config(server)`, `fake_inspect` (no GL);
- `shapes`: hand-built meshes with exact geometry (`box_mesh`, `boxes`, `table` for rendering
  and export; closed `box`, `prism`, `sphere`, `moved`, `build` for the lints).

Fixtures (any test can ask for them by name):

- `scripted_model`: a running `FakeOpenAI` that answers every role with `agent_script.responder`,
  so concurrent runs can share it; `.base_url`, `.requests`.

Hypothesis explores new examples on every local run; CI (`CI` set, as .ci/run does) replays the
same ones each time, so a merge is never failed by an example nobody has seen before.
"""

import os

import pytest
from hypothesis import settings

from tests.helpers.agent_script import responder
from tests.helpers.fake_openai import FakeOpenAI

settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def scripted_model():
    with FakeOpenAI(default=responder) as server:
        yield server
