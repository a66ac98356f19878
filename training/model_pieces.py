"""A model folder carried in pieces: split into files of at most 60 MB with a sha256 manifest, reassembled and
checked on the other side.

An offline GPU machine that receives files in small transfers (``scripts/gpu_embedded.sh``) gets the embedded
model this way:

    python -m training.model_pieces pack  MODEL_DIR  OUT_DIR        # OUT_DIR/manifest.json + OUT_DIR/part-00000...
    python -m training.model_pieces unpack OUT_DIR  MODEL_DIR       # reassembles; fails on any sha256 mismatch

The pieces are the folder's files concatenated in a fixed order and cut every ``piece_bytes``; the manifest
lists every file with its size and sha256, every piece with its sha256, and the sha256 of the whole stream.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

PIECE_BYTES = 60 * 1000 * 1000
CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def pack(model_dir: Path, out_dir: Path, piece_bytes: int = PIECE_BYTES) -> Path:
    """Split every file under ``model_dir`` into pieces in ``out_dir``; returns the manifest's path."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    files = sorted(p for p in model_dir.rglob("*") if p.is_file())
    if not files:
        raise ValueError(f"{model_dir} holds no files")
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"files": [], "pieces": [], "piece_bytes": piece_bytes}
    whole = hashlib.sha256()
    piece, piece_hash, piece_fill = None, None, 0

    def close_piece() -> None:
        if piece is not None:
            piece.close()
            manifest["pieces"].append({"name": Path(piece.name).name, "sha256": piece_hash.hexdigest()})

    for file in files:
        manifest["files"].append({"path": file.relative_to(model_dir).as_posix(), "bytes": file.stat().st_size,
                                  "sha256": _sha256(file)})
        with file.open("rb") as fh:
            while block := fh.read(CHUNK):
                while block:
                    if piece is None or piece_fill == piece_bytes:
                        close_piece()
                        piece = (out_dir / f"part-{len(manifest['pieces']):05d}").open("wb")
                        piece_hash, piece_fill = hashlib.sha256(), 0
                    take = block[: piece_bytes - piece_fill]
                    piece.write(take)
                    piece_hash.update(take)
                    whole.update(take)
                    piece_fill += len(take)
                    block = block[len(take):]
    close_piece()
    manifest["sha256"] = whole.hexdigest()
    target = out_dir / "manifest.json"
    target.write_text(json.dumps(manifest, indent=2) + "\n")
    return target


def unpack(pieces_dir: Path, model_dir: Path) -> Path:
    """Reassemble the folder packed in ``pieces_dir`` into ``model_dir``, checking every sha256; returns
    ``model_dir``. Raises ``ValueError`` naming the first piece or file that does not match."""
    pieces_dir, model_dir = Path(pieces_dir), Path(model_dir)
    manifest = json.loads((pieces_dir / "manifest.json").read_text())
    for piece in manifest["pieces"]:
        path = pieces_dir / piece["name"]
        if not path.exists():
            raise ValueError(f"piece {piece['name']} is missing from {pieces_dir}")
        if _sha256(path) != piece["sha256"]:
            raise ValueError(f"piece {piece['name']} is corrupt: its sha256 differs from the manifest")
    stream = (open(pieces_dir / p["name"], "rb") for p in manifest["pieces"])
    current = next(stream, None)
    whole = hashlib.sha256()
    model_dir.mkdir(parents=True, exist_ok=True)
    for entry in manifest["files"]:
        target = model_dir / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        left = entry["bytes"]
        with target.open("wb") as out:
            while left:
                block = current.read(min(CHUNK, left)) if current else b""
                if not block:
                    current.close()
                    current = next(stream, None)
                    if current is None:
                        raise ValueError(f"the pieces end before {entry['path']} is complete")
                    continue
                out.write(block)
                whole.update(block)
                left -= len(block)
        if _sha256(target) != entry["sha256"]:
            raise ValueError(f"{entry['path']} reassembled with a different sha256")
    if current:
        current.close()
    if whole.hexdigest() != manifest["sha256"]:
        raise ValueError("the reassembled stream's sha256 differs from the manifest")
    return model_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.model_pieces", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="split MODEL_DIR into pieces in OUT_DIR")
    p.add_argument("model_dir", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--piece-mb", type=float, default=PIECE_BYTES / 1e6)
    u = sub.add_parser("unpack", help="reassemble PIECES_DIR into MODEL_DIR, checking sha256")
    u.add_argument("pieces_dir", type=Path)
    u.add_argument("model_dir", type=Path)
    args = parser.parse_args(argv)
    if args.command == "pack":
        print(pack(args.model_dir, args.out_dir, int(args.piece_mb * 1e6)))
    else:
        try:
            print(unpack(args.pieces_dir, args.model_dir))
        except ValueError as exc:
            raise SystemExit(f"unpack failed: {exc}") from None


if __name__ == "__main__":
    main()
