"""One shard version as files in a directory: what is written, and how it is read back and checked.

Every store keeps a version in this form (the file store in its version
directory, the S3 store as one object per file and a local copy of them), so
a version is read by one function wherever it came from. Nothing is stored
with pickle: vectors are `.npy` (loaded with `allow_pickle=False`), chunks JSON
lines, the manifest JSON, the lexical index SQLite's own database format, and
the approximate index FAISS's own binary format. The manifest lists the
sha256 of every other file, so damage is found when a version is loaded, never
in the middle of a search.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from pathlib import Path

import faiss
import numpy as np

from services.retrieval.blocks import PARAGRAPH
from services.retrieval.ingest import Chunk
from services.retrieval.lexical import LexicalIndex
from services.retrieval.shard import HNSW_EF_SEARCH, DocumentRecord, OrgShard, ShardCorruptError, build_index

# 2 added the lexical index and each chunk's kind and heading path; a version 1 shard still loads (its lexical
# index is built in memory) but should be rebuilt to get structured chunks.
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
MANIFEST = "manifest.json"
# "v00000012", or "v00000012-<suffix>" where several writers may publish the same number (the S3 store).
_VERSION_NAME = re.compile(r"^v(\d{8})(?:-[0-9a-f]+)?\Z")


def version_name(number: int, suffix: str = "") -> str:
    return f"v{number:08d}" + (f"-{suffix}" if suffix else "")


def version_number(name: str) -> int | None:
    """The version number a directory or prefix name carries, None for anything else."""
    match = _VERSION_NAME.match(name)
    return int(match.group(1)) if match else None


def fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_version(shard: OrgShard, directory: Path) -> list[str]:
    """Write `shard` into the empty `directory`, durably; returns the file names, the manifest last."""
    np.save(directory / "vectors.npy", np.ascontiguousarray(shard.vectors, dtype=np.float32), allow_pickle=False)
    with open(directory / "chunks.jsonl", "w", encoding="utf-8") as handle:
        for chunk in shard.chunks:
            row = {"document": chunk.document, "position": chunk.position, "text": chunk.text, "kind": chunk.kind,
                   "headings": list(chunk.headings), "mentions": list(chunk.mentions)}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    (directory / "lexical.sqlite").write_bytes(shard.lexical.to_bytes())
    files = ["vectors.npy", "chunks.jsonl", "lexical.sqlite"]
    if shard.index_type == "hnsw":
        faiss.write_index(shard.index, str(directory / "index.faiss"))
        files.append("index.faiss")
    manifest = {
        "format": FORMAT_VERSION,
        "org_id": shard.org_id,
        "version": shard.version,
        "embedder": shard.embedder,
        "dimension": shard.dimension,
        "index_type": shard.index_type,
        "chunks": len(shard.chunks),
        "updated_at": shard.updated_at,
        "documents": [record.__dict__ for record in shard.documents.values()],
        "files": {file: file_sha256(directory / file) for file in files},
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    for file in [*files, MANIFEST]:
        fsync_file(directory / file)
    fsync_dir(directory)
    return [*files, MANIFEST]


def read_manifest(directory: Path) -> dict:
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ShardCorruptError(f"{directory}: cannot read the manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") not in READABLE_FORMATS or not isinstance(manifest.get("files"), dict):
        raise ShardCorruptError(f"{directory}: unsupported shard format {manifest.get('format') if isinstance(manifest, dict) else manifest!r}")
    return manifest


def read_version(org_id: str, directory: Path, verify: bool = True) -> OrgShard:
    """The shard stored in `directory`. `verify=False` skips the checksums, for files checked as they arrived."""
    manifest = read_manifest(directory)
    try:
        if verify:
            for name, digest in manifest["files"].items():
                if file_sha256(directory / name) != digest:
                    raise ShardCorruptError(f"{directory / name}: checksum mismatch")
        dimension = int(manifest["dimension"])
        vectors = np.load(directory / "vectors.npy", allow_pickle=False, mmap_mode="r")
        chunks = [
            Chunk(row["document"], int(row["position"]), row["text"], row.get("kind", PARAGRAPH), tuple(row.get("headings", ())),
                  tuple(row.get("mentions", ())))
            for row in map(json.loads, (directory / "chunks.jsonl").read_text(encoding="utf-8").splitlines())
        ]
        documents = {row["name"]: DocumentRecord(**row) for row in manifest["documents"]}
        if vectors.shape != (len(chunks), dimension):
            raise ShardCorruptError(f"{directory}: {len(chunks)} chunks but vectors of shape {vectors.shape}")
        if manifest["index_type"] == "hnsw":
            index = faiss.read_index(str(directory / "index.faiss"))
            index.hnsw.efSearch = HNSW_EF_SEARCH
        else:
            index, _ = build_index(vectors, dimension, approximate_threshold=1 << 62)
        if "lexical.sqlite" in manifest["files"]:
            lexical = LexicalIndex.from_bytes((directory / "lexical.sqlite").read_bytes())
        else:
            lexical = LexicalIndex.build([chunk.indexed_text for chunk in chunks])
    except ShardCorruptError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, sqlite3.Error) as exc:
        raise ShardCorruptError(f"{directory}: cannot read shard: {exc}") from exc
    return OrgShard(
        org_id=org_id,
        embedder=manifest["embedder"],
        dimension=dimension,
        version=int(manifest["version"]),
        updated_at=manifest["updated_at"],
        chunks=chunks,
        vectors=vectors,
        documents=documents,
        index=index,
        index_type=manifest["index_type"],
        lexical=lexical,
    )
