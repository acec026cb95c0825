"""Model files: the manifest every load verifies, and exports served only whole and only
once they passed."""

import json

import pytest

from ecom_assets.ml.common.model_files import (
    EXPORT_LINK,
    ArtefactError,
    ParityError,
    publish_export,
    require_parity,
    staging_dir,
    verify_manifest,
    write_manifest,
)


def _checkpoint(folder):
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "tokenizer.json").write_text("{}")
    (folder / "config.json").write_text("{}")
    sha = write_manifest(folder)
    (folder / "card.json").write_text(json.dumps({"sha256": sha}))  # written after: never listed
    return sha


def test_the_manifest_covers_every_checkpoint_file_and_nothing_else(tmp_path):
    folder = tmp_path / "v1"
    sha = _checkpoint(folder)
    manifest = verify_manifest(folder, sha)
    assert sorted(manifest) == ["config.json", "model.safetensors", "tokenizer.json"]


@pytest.mark.parametrize("tamper, message", [
    (lambda f: (f / "model.safetensors").write_bytes(b"other weights"), "changed \\['model.safetensors'\\]"),
    (lambda f: (f / "tokenizer.json").unlink(), "missing \\['tokenizer.json'\\]"),
    (lambda f: (f / "vocab.txt").write_text("extra"), "not listed \\['vocab.txt'\\]"),
    (lambda f: (f / "MANIFEST.json").write_text("{}"), "differs from the registered one"),
])
def test_any_change_to_a_checkpoint_is_caught_before_it_loads(tmp_path, tamper, message):
    folder = tmp_path / "v1"
    sha = _checkpoint(folder)
    tamper(folder)
    with pytest.raises(ArtefactError, match=message):
        verify_manifest(folder, sha)


def _export(folder, version, passed, payload):
    staged = staging_dir(folder)
    (staged / "model.onnx").write_bytes(payload)
    return publish_export(folder, staged, version, passed, probes=3)


def test_an_export_is_served_whole_only_after_it_passed(tmp_path):
    folder = tmp_path / "v1"
    _checkpoint(folder)
    first = _export(folder, "v1", True, b"graph one")
    link = folder / EXPORT_LINK
    assert link.is_symlink() and (link / "model.onnx").read_bytes() == b"graph one"
    record = require_parity(link, "encoder v1", "ml/export", version="v1", expected_manifest_sha256=first["manifest_sha256"])
    assert record["passed"] and record["probes"] == 3

    failed = _export(folder, "v1", False, b"graph two, wrong")
    assert not failed["passed"] and (link / "model.onnx").read_bytes() == b"graph one", "a failed export never serves"

    abandoned = staging_dir(folder)  # what a run killed mid-export leaves behind
    (abandoned / "model.onnx").write_bytes(b"half")
    second = _export(folder, "v1", True, b"graph three")
    assert (link / "model.onnx").read_bytes() == b"graph three"
    assert not abandoned.exists(), "abandoned staging folders are cleaned up by the next export"
    with pytest.raises(ParityError, match="differs from the registered one"):
        require_parity(link, "encoder v1", "ml/export", expected_manifest_sha256=first["manifest_sha256"])
    require_parity(link, "encoder v1", "ml/export", expected_manifest_sha256=second["manifest_sha256"])
    verify_manifest(folder, json.loads((folder / "card.json").read_text())["sha256"])  # exports sit outside it


def test_a_served_export_that_changed_or_belongs_to_another_version_is_refused(tmp_path):
    folder = tmp_path / "v1"
    _checkpoint(folder)
    record = _export(folder, "v1", True, b"graph")
    link = folder / EXPORT_LINK
    with pytest.raises(ParityError, match="made from version v1"):
        require_parity(link, "encoder v2", "ml/export", version="v2")
    (link / "model.onnx").write_bytes(b"overwritten in place")
    with pytest.raises(ParityError, match="changed \\['model.onnx'\\]"):
        require_parity(link, "encoder v1", "ml/export", version="v1", expected_manifest_sha256=record["manifest_sha256"])
