"""The README's Python blocks run as written (in a fresh working directory)."""
import json
import os
import re

import pytest
import torch

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")
BLOCKS = re.findall(r"^```python\n(.*?)^```", open(README, encoding="utf-8").read(), re.S | re.M)


def test_the_readme_shows_the_library_and_a_trained_model_from_python():
    assert len(BLOCKS) >= 2 and any("model_from_checkpoint" in block for block in BLOCKS)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    exec(compile(BLOCKS[index], f"README.md, Python block {index + 1}", "exec"), namespace)
    if "model_from_checkpoint" in BLOCKS[index]:  # it scores the run's test graphs as the run did
        summary = json.load(open(tmp_path / "runs" / "from-python" / "summary.json"))
        assert f"'acc': {summary['test_score']}" in capsys.readouterr().out
        graph, label = namespace["data"][0]
        assert int(label) == int(namespace["data"].labels[0])
        assert graph.num_nodes() == int(namespace["data"].num_nodes[0])
        assert torch.equal(graph.ndata["feat"], namespace["data"].store.ndata["feat"][:graph.num_nodes()])
