"""training/model_pieces.py: a folder survives pack/unpack byte for byte; a corrupt or missing piece is refused."""
from __future__ import annotations

import json
import os

import pytest

from training.model_pieces import pack, unpack


def _folder(root):
    (root / "sub").mkdir(parents=True)
    (root / "model.safetensors").write_bytes(os.urandom(25_000))
    (root / "config.json").write_text(json.dumps({"a": 1}))
    (root / "sub" / "tokenizer.json").write_bytes(os.urandom(7_001))
    (root / "empty.txt").write_bytes(b"")
    return root


def test_roundtrip_in_small_pieces(tmp_path):
    source = _folder(tmp_path / "model")
    manifest = json.loads(pack(source, tmp_path / "pieces", piece_bytes=4096).read_text())
    assert len(manifest["pieces"]) == -(-(25_000 + 7_001 + len(json.dumps({"a": 1}))) // 4096)
    assert all((tmp_path / "pieces" / p["name"]).stat().st_size <= 4096 for p in manifest["pieces"])
    out = unpack(tmp_path / "pieces", tmp_path / "again")
    for path in source.rglob("*"):
        if path.is_file():
            assert (out / path.relative_to(source)).read_bytes() == path.read_bytes()


def test_a_corrupt_or_missing_piece_is_refused(tmp_path):
    pack(_folder(tmp_path / "model"), tmp_path / "pieces", piece_bytes=4096)
    piece = tmp_path / "pieces" / "part-00002"
    data = bytearray(piece.read_bytes())
    data[0] ^= 0xFF
    piece.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="part-00002 is corrupt"):
        unpack(tmp_path / "pieces", tmp_path / "again")
    piece.unlink()
    with pytest.raises(ValueError, match="part-00002 is missing"):
        unpack(tmp_path / "pieces", tmp_path / "again")
