"""Stratified k-fold cross-validation: folds, inner validation split, resume."""
import dataclasses
import json
import os
import shutil

import pytest
import torch

from dgl_diffpool.data.splits import fold_split, stratified_kfold
from dgl_diffpool.errors import ConfigError, DatasetError
from dgl_diffpool.training import RunConfig
from dgl_diffpool.training import cross_validation as cv


def test_folds_are_stratified_disjoint_and_cover():
    labels = torch.tensor([0] * 37 + [1] * 23 + [2] * 11)
    folds = stratified_kfold(labels, 5, seed=0)
    assert sorted(torch.cat(folds).tolist()) == list(range(71))
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    for f in folds:
        counts = torch.bincount(labels[f], minlength=3)
        assert all(abs(int(c) - n / 5) < 1 for c, n in zip(counts, (37, 23, 11)))
    split = fold_split(labels, folds[2], 0.1, seed=0)
    assert torch.equal(split["test"], folds[2])
    assert not set(split["train"].tolist()) & set(split["valid"].tolist())
    assert sorted(torch.cat(list(split.values())).tolist()) == list(range(71))
    assert torch.bincount(labels[split["valid"]], minlength=3).tolist() == [3, 2, 1]
    with pytest.raises(ValueError, match="at least 2 folds"):
        stratified_kfold(labels, 1, 0)


def test_cross_validation_end_to_end_and_resume(tmp_path, data_dir, monkeypatch):
    config = RunConfig(data_dir=data_dir, protocol="cv", folds=3, epochs=1, hidden=8, mlp_hidden=8, batch_size=64)
    run = str(tmp_path / "cv")
    result = cv.cross_validate(config, run)
    summary = json.load(open(os.path.join(run, "summary.json")))
    assert len(result.runs) == 3 and summary["test_score_mean"] == pytest.approx(result.mean)
    assert [r["fold"] for r in summary["per_fold"]] == [0, 1, 2]
    folds = json.load(open(os.path.join(run, "folds.json")))["folds"]
    assert sorted(sum(folds, [])) == list(range(1000))

    # Finished folds are not rerun; the saved folds are reused.
    monkeypatch.setattr(cv, "train", lambda *a, **k: pytest.fail("a finished fold was retrained"))
    again = cv.cross_validate(config, run, resume=True)
    assert again.test_scores == result.test_scores


def test_bad_folds_file(tmp_path, data_dir):
    bad = tmp_path / "folds.json"
    bad.write_text(json.dumps({"folds": [[0, 1], [2]]}))
    config = RunConfig(data_dir=data_dir, protocol="cv", folds=2, epochs=1)
    with pytest.raises(DatasetError, match="not a partition of the 1000 graphs"):
        cv.cross_validate(config, str(tmp_path / "run"), folds_file=str(bad))


def _without_seconds(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as fh:
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in fh]


def test_the_test_fold_is_never_seen_before_it_is_scored(tmp_path, data_dir):
    """Corrupting the test fold's labels changes nothing but the test score."""
    from dgl_diffpool.data import GraphClassificationData, load_dataset
    from dgl_diffpool.data.splits import fold_split
    from dgl_diffpool.training import train
    from dgl_diffpool.training.kernel_svm import kernel_cross_validate, kernel_matrix

    data = load_dataset("synthetic", data_dir)
    folds = stratified_kfold(data.labels, 5, seed=0)
    splits = fold_split(data.labels, folds[0], 0.1, seed=0)
    corrupt = data.labels.clone()
    corrupt[folds[0]] = (corrupt[folds[0]] + 1) % data.num_classes
    bad = GraphClassificationData(data.name, data.graphs, corrupt, data.num_classes)
    config = RunConfig(data_dir=data_dir, epochs=3, hidden=8, mlp_hidden=8, batch_size=64, dropout=0.1)
    clean = train(config, str(tmp_path / "clean"), data=data, splits=splits)
    dirty = train(config, str(tmp_path / "dirty"), data=bad, splits=splits)
    assert _without_seconds(str(tmp_path / "clean")) == _without_seconds(str(tmp_path / "dirty"))
    assert (clean.best_epoch, clean.val_score) == (dirty.best_epoch, dirty.val_score)
    assert clean.test_score != dirty.test_score  # the corruption did reach the test fold

    small = GraphClassificationData(data.name, data.graphs[:200], data.labels[:200], data.num_classes)
    gram = kernel_matrix("wl-kernel", small)
    small_folds = stratified_kfold(small.labels, 4, seed=0)
    reference = kernel_cross_validate(gram, small.labels, small_folds, 0.1, 0)["per_fold"]
    for i, fold in enumerate(small_folds):  # each fold's test labels corrupted in turn
        labels = small.labels.clone()
        labels[fold] = (labels[fold] + 1) % data.num_classes
        row = kernel_cross_validate(gram, labels, small_folds, 0.1, 0)["per_fold"][i]
        assert (row["C"], row["val_score"]) == (reference[i]["C"], reference[i]["val_score"])
        assert row["test_score"] != reference[i]["test_score"]


def test_a_whole_cross_validation_repeated_over_seeds(tmp_path, data_dir, monkeypatch):
    from dgl_diffpool.errors import CheckpointError
    from dgl_diffpool.plotting.curves import find_runs
    from dgl_diffpool.training import Assessment, repeat_assessment
    from dgl_diffpool.training.scoring import run_checkpoints
    from dgl_diffpool.training.space import SearchSpace

    config = RunConfig(data_dir=data_dir, protocol="cv", folds=2, epochs=1, hidden=8, mlp_hidden=8, batch_size=64,
                       seed=4, seeds=2)
    run = str(tmp_path / "seeds")
    summary = repeat_assessment(config, run)
    seeds = [json.load(open(os.path.join(run, f"seed-{s}", "summary.json"))) for s in (4, 5)]
    means = [s["test_score_mean"] for s in seeds]
    assert [r["seed"] for r in summary["per_seed"]] == [4, 5]
    assert [r["test_score_mean"] for r in summary["per_seed"]] == means
    assert summary["test_score_mean"] == pytest.approx(sum(means) / 2)
    assert summary["test_score_std"] == pytest.approx(abs(means[0] - means[1]) / 2)
    assert summary["spread"] == pytest.approx(abs(means[0] - means[1]))
    assert json.load(open(os.path.join(run, "summary.json"))) == summary
    for s in (4, 5):  # each seed is a whole cross-validation of its own seed, on folds of its own
        assert json.load(open(os.path.join(run, f"seed-{s}", "config.json")))["seed"] == s
    folds = [json.load(open(os.path.join(run, f"seed-{s}", "folds.json")))["folds"] for s in (4, 5)]
    assert folds[0] != folds[1]
    alone = cv.cross_validate(dataclasses.replace(config, seed=5, seeds=1), str(tmp_path / "alone"))
    assert alone.test_scores == [r["test_score"] for r in seeds[1]["per_fold"]]  # a seed is the run of that seed
    assert set(find_runs(run)) == {f"seed-{s}/fold-{i}" for s in (4, 5) for i in (0, 1)}
    for fold in (None, 0):
        with pytest.raises(CheckpointError, match="repeats a cross-validation over seeds: give one seed's run"):
            run_checkpoints(run, fold)
    with pytest.raises(ConfigError, match="cross_validate runs one seed, not 2: repeat_assessment repeats it"):
        cv.cross_validate(config, str(tmp_path / "two-seeds"))
    with pytest.raises(ConfigError, match="repeats a cross-validation without model selection; resume it as it was"):
        repeat_assessment(config, run, Assessment(SearchSpace({"lr": [0.01]})), resume=True)

    # Finished seeds are kept on resume; folds given by a file are every seed's folds.
    monkeypatch.setattr(cv, "train", lambda *a, **k: pytest.fail("a finished fold was retrained"))
    assert repeat_assessment(config, run, resume=True) == summary
    monkeypatch.undo()
    fixed = str(tmp_path / "fixed")
    given = os.path.join(run, "seed-4", "folds.json")
    repeat_assessment(config, fixed, Assessment(folds_file=given))
    assert [json.load(open(os.path.join(fixed, f"seed-{s}", "folds.json")))["folds"] for s in (4, 5)] == [folds[0]] * 2
    # A seed that had not run when the run was interrupted gets the recorded folds on resume, not its own.
    shutil.rmtree(os.path.join(fixed, "seed-5"))
    repeat_assessment(config, fixed, resume=True)
    assert json.load(open(os.path.join(fixed, "seed-5", "folds.json")))["folds"] == folds[0]
    other = os.path.join(run, "seed-5", "folds.json")
    with pytest.raises(ConfigError, match=f"repeats a cross-validation on other folds than those of {other}"):
        repeat_assessment(config, fixed, Assessment(folds_file=other), resume=True)
