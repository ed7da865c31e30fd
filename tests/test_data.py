"""Datasets: layouts, the seeded stratified split, unreadable files, and the cache that keeps the contract."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edge.runtime import load_image
from edge.runtime.datasets import DatasetError, load_dataset, stratified_split


def write_images(folder, count, colour=(200, 30, 30), size=(40, 30)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(sum(map(ord, str(folder))))
    for index in range(count):
        noise = rng.integers(-20, 20, (size[1], size[0], 3))
        pixels = np.clip(np.asarray(colour) + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{index}.png")


def test_split_is_seeded_stratified_and_covers_every_class():
    y = np.repeat(np.arange(3), [50, 10, 3])
    train, validation = stratified_split(y, 0.2, seed=7)
    again = stratified_split(y, 0.2, seed=7)
    assert np.array_equal(train, again[0]) and np.array_equal(validation, again[1])
    assert not set(train) & set(validation) and len(train) + len(validation) == len(y)
    assert np.bincount(y[validation]).tolist() == [10, 2, 1]
    assert not np.array_equal(validation, stratified_split(y, 0.2, seed=8)[1])


def test_class_folders_are_split_and_cached_pixels_match_the_runtime(tmp_path):
    write_images(tmp_path / "cats", 10, (200, 30, 30))
    write_images(tmp_path / "dogs", 10, (30, 30, 200))
    dataset = load_dataset(tmp_path, 32, val_split=0.2, seed=1)
    cached = load_dataset(tmp_path, 32, val_split=0.2, seed=1)
    assert dataset.labels == ["cats", "dogs"] and dataset.layout == "folders"
    assert (len(dataset.train), len(dataset.validation)) == (16, 4)
    for loaded in (dataset, cached):
        for split in (loaded.train, loaded.validation):
            for pixels, path in zip(split.x, split.paths, strict=True):
                assert np.array_equal(pixels, load_image(path, (32, 32)))
    assert cached.validation.paths == dataset.validation.paths


def test_train_and_validation_folders_are_used_as_given(tmp_path):
    for split, count in (("train", 6), ("validation", 2)):
        write_images(tmp_path / split / "a", count)
        write_images(tmp_path / split / "b", count)
    dataset = load_dataset(tmp_path, 32)
    assert dataset.layout == "split" and (len(dataset.train), len(dataset.validation)) == (12, 4)
    assert all("/validation/" in path for path in dataset.validation.paths)


def test_unreadable_images_are_skipped_and_named_and_other_files_listed(tmp_path):
    write_images(tmp_path / "a", 5)
    write_images(tmp_path / "b", 5)
    (tmp_path / "a" / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "a" / "notes.txt").write_text("hello")
    (tmp_path / "b" / ".DS_Store").write_bytes(b"\0")
    dataset = load_dataset(tmp_path, 32)
    assert [entry.path.endswith("broken.jpg") for entry in dataset.skipped] == [True]
    assert "not an image" in dataset.skipped[0].reason
    assert [path.endswith("notes.txt") for path in dataset.ignored] == [True]
    assert len(dataset.train) + len(dataset.validation) == 10


@pytest.mark.parametrize(
    "layout, message",
    [
        ({"a": 5}, "needs at least 2"),
        ({"a": 5, "b": 0}, "class 'b' has no readable training images"),
        ({}, "no class folders"),
    ],
)
def test_datasets_that_cannot_be_trained_on_are_refused(tmp_path, layout, message):
    for name, count in layout.items():
        write_images(tmp_path / name, count)
    with pytest.raises(DatasetError, match=message):
        load_dataset(tmp_path, 32)


def test_train_and_validation_with_different_classes_are_refused(tmp_path):
    for name in ("a", "b"):
        write_images(tmp_path / "train" / name, 3)
    write_images(tmp_path / "validation" / "a", 2)
    with pytest.raises(DatasetError, match="only in one of them: b"):
        load_dataset(tmp_path, 32)


def test_missing_data_directory(tmp_path):
    with pytest.raises(DatasetError, match="no such data directory"):
        load_dataset(tmp_path / "nope", 32)


def test_auto_class_weights_follow_the_counts():
    from edge.runtime.datasets import balanced_class_weights

    y = np.repeat([0, 1, 2], [10, 30, 60])
    weights = balanced_class_weights(y, 4)  # class 3 has no images
    assert weights == pytest.approx({0: 100 / 30, 1: 100 / 90, 2: 100 / 180, 3: 0.0})
    per_class_total = [weights[c] * n for c, n in enumerate(np.bincount(y, minlength=4))]
    assert per_class_total[:3] == pytest.approx([100 / 3] * 3)  # each present class weighs the same in an epoch


def test_the_manifest_names_no_path_of_the_training_machine_and_a_moved_run_finds_its_data(tiny_run, tmp_path):
    """Paths in edge.json are relative to the run: a run moved together with its data still loads the same split,
    and one moved without it says where it looked."""
    import json
    import os
    import shutil

    from edge.runtime import EdgeError, Manifest
    from edge.runtime.run_dir import RunDir

    def strings(value):
        if isinstance(value, dict):
            return [text for item in value.values() for text in strings(item)]
        if isinstance(value, list):
            return [text for item in value for text in strings(item)]
        return [value] if isinstance(value, str) else []

    text = (tiny_run / "edge.json").read_text()
    assert not [s for s in strings(json.loads(text)) if os.path.isabs(s)], text
    assert str(tiny_run.parent) not in text

    moved = tmp_path / "elsewhere" / "deeper"
    shutil.copytree(tiny_run.parent / "data", moved / "data")
    shutil.copytree(tiny_run, moved / "run")
    manifest = Manifest.load(moved / "run" / "edge.json")
    original = RunDir(tiny_run).dataset(manifest)
    found = RunDir(moved / "run").dataset(manifest)
    assert found.labels == original.labels and np.array_equal(found.validation.x, original.validation.x)

    alone = tmp_path / "alone" / "run"
    shutil.copytree(tiny_run, alone)
    with pytest.raises(EdgeError, match="the run's training data is not there"):
        RunDir(alone).dataset(manifest)
