"""The docstrings of the modules users reach from their own tools (hub ids, the monitor and the
training callbacks, the HTML page, the command line): numpydoc sections on every public function
and method, and every example run as a doctest."""

from __future__ import annotations

import doctest
import importlib.util
import inspect
import re

import pytest

pytest.importorskip("torch")

import netsieve.hub as hub  # noqa: E402
import netsieve.integrations as integrations  # noqa: E402
import netsieve.torch as nt  # noqa: E402
from netsieve._layer_names import block_and_role  # noqa: E402
from netsieve.cli import main  # noqa: E402
from netsieve.torch import diagnostic_columns  # noqa: E402

FUNCTIONS = {f"netsieve.hub.{n}": getattr(hub, n) for n in hub.__all__ if inspect.isfunction(getattr(hub, n))}
FUNCTIONS.update({f"netsieve.torch.diagnostic_columns.{n}": getattr(diagnostic_columns, n) for n in diagnostic_columns.__all__})
FUNCTIONS.update({
    "netsieve._layer_names.block_and_role": block_and_role,
    "netsieve.cli.main": main,
    "Monitor.observe": integrations.Monitor.observe,
    "Monitor.measure": integrations.Monitor.measure,
    "Monitor.check": integrations.Monitor.check,
    "Diagnostics.scalars": integrations.Diagnostics.scalars,
    "Report.to_html": nt.Report.to_html,
})
CLASSES = {"netsieve.hub.HubModel": hub.HubModel, "Monitor": integrations.Monitor, "Diagnostics": integrations.Diagnostics}
if importlib.util.find_spec("transformers"):
    FUNCTIONS["NetsieveCallback.attach"] = integrations.NetsieveCallback.attach
    CLASSES["NetsieveCallback"] = integrations.NetsieveCallback
if importlib.util.find_spec("lightning"):
    CLASSES["NetsieveLightningCallback"] = integrations.NetsieveLightningCallback


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functions_have_numpydoc_sections(name):
    doc = inspect.getdoc(FUNCTIONS[name]) or ""
    for section in ("Parameters", "Returns", "Raises", "Examples"):
        assert re.search(rf"^{section}\n-+$", doc, re.M), f"{name}: no {section} section"


@pytest.mark.parametrize("name", sorted(FUNCTIONS) + sorted(CLASSES))
def test_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    obj = {**FUNCTIONS, **CLASSES}[name]
    doc = inspect.getdoc(obj) or ""
    test = doctest.DocTestParser().get_doctest(doc, {}, name, None, 0)
    assert test.examples, f"{name}: no example"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert runner.run(test).failed == 0, f"{name}: doctest failed"
