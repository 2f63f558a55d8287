"""`voiceagent ingest`, `search` and `documents list|delete`: the retrieval service from the command line.

Writes (ingest, deletion) are recorded in the audit trail once the service has made them.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import grpc
from tqdm import tqdm

from services.cli.output import add_address_option, add_common_options, print_json, print_table
from services.cli.records_access import add_actor_option, add_database_option, audit_elsewhere
from services.common.generated.voiceagent.v1 import retrieval_pb2 as pb
from services.common.generated.voiceagent.v1 import retrieval_pb2_grpc
from services.retrieval.ingest import SUPPORTED_EXTENSIONS

UPLOAD_PIECE_BYTES = 1024 * 1024
CHANNEL_OPTIONS = [("grpc.max_send_message_length", 64 * 1024 * 1024), ("grpc.max_receive_message_length", 64 * 1024 * 1024)]


def register(commands: argparse._SubParsersAction) -> None:
    ingest = commands.add_parser("ingest", help="send documents to an org's knowledge base")
    ingest.add_argument("--org", required=True, help="organisation id (a directory under the data dir)")
    ingest.add_argument("paths", nargs="+", type=Path, help="files, or directories searched for .txt .md .pdf .html")
    ingest.add_argument("--rebuild", action="store_true", help="replace the whole shard with these documents")
    ingest.add_argument("--chunk-size", type=int, default=0, help="characters per chunk (default: the org's)")
    ingest.add_argument("--chunk-overlap", type=int, default=0, help="overlap between chunks (default: the org's)")
    _add_connection_options(ingest, timeout=600.0)
    _add_write_options(ingest)
    ingest.set_defaults(run=run_ingest)

    search = commands.add_parser("search", help="search an org's knowledge base")
    search.add_argument("--org", required=True)
    search.add_argument("--top-k", type=int, default=0, help="number of hits (default: the org's top_k)")
    search.add_argument("--min-score", type=float, default=-1.0, help="drop hits below this cosine similarity")
    search.add_argument("query", nargs="+", help="what to look for")
    _add_connection_options(search, timeout=30.0)
    search.set_defaults(run=run_search)

    documents = commands.add_parser("documents", help="an org's documents in the knowledge base")
    actions = documents.add_subparsers(dest="documents_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the org's documents and their chunk counts")
    listing.add_argument("--org", required=True)
    _add_connection_options(listing, timeout=30.0)
    listing.set_defaults(run=run_list_documents)
    delete = actions.add_parser("delete", help="remove a document and its chunks from the org's knowledge base (audited)")
    delete.add_argument("--org", required=True)
    delete.add_argument("document", help="the document's name, as listed")
    _add_connection_options(delete, timeout=120.0)
    _add_write_options(delete)
    delete.set_defaults(run=run_delete_document)


def _add_connection_options(parser: argparse.ArgumentParser, timeout: float) -> None:
    add_address_option(parser, "retrieval")
    add_common_options(parser, timeout)


def _add_write_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token", default=os.environ.get("RETRIEVAL_ADMIN_TOKEN", ""), help="admin token (default: $RETRIEVAL_ADMIN_TOKEN)"
    )
    add_actor_option(parser)
    add_database_option(parser)


def _admin_metadata(args: argparse.Namespace) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {args.token}")] if args.token else []


def collect_documents(paths: list[Path]) -> list[Path]:
    """Files named directly, plus the supported files found under named directories."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS))
        elif path.is_file():
            found.append(path)
        else:
            raise SystemExit(f"error: no such file or directory: {path}")
    return found


def _ingest_requests(org: str, files: list[Path], options: pb.IngestOptions, progress: tqdm) -> Iterator[pb.IngestRequest]:
    yield pb.IngestRequest(org_id=org, options=options)
    for path in files:
        progress.set_postfix_str(path.name)
        yield pb.IngestRequest(org_id=org, document=pb.DocumentStart(name=path.name))
        with open(path, "rb") as handle:
            while piece := handle.read(UPLOAD_PIECE_BYTES):
                progress.update(len(piece))
                yield pb.IngestRequest(data=piece)


def run_ingest(args: argparse.Namespace) -> int:
    files = collect_documents(args.paths)
    if not files and not args.rebuild:
        raise SystemExit("error: no documents to ingest")
    names = [path.name for path in files]
    if len(set(names)) != len(names):
        raise SystemExit("error: two files share a name; documents are identified by file name")
    options = pb.IngestOptions(
        chunking=pb.ChunkingOptions(chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap), rebuild=args.rebuild
    )
    metadata = _admin_metadata(args)
    total = sum(path.stat().st_size for path in files)
    with grpc.insecure_channel(args.addr, options=CHANNEL_OPTIONS) as channel:
        stub = retrieval_pb2_grpc.RetrievalStub(channel)
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"ingest {args.org}", file=sys.stderr, disable=args.json) as progress:
            response = stub.Ingest(
                _ingest_requests(args.org, files, options, progress), timeout=args.timeout, metadata=metadata
            )
    if args.json:
        print_json(
            {
                "org_id": args.org,
                "documents_ingested": response.documents_ingested,
                "documents_failed": response.documents_failed,
                "chunks_added": response.chunks_added,
                "chunks_removed": response.chunks_removed,
                "results": [
                    {"name": r.name, "ok": r.ok, "chunks": r.chunks, "error": r.error} for r in response.results
                ],
                "shard": {"version": response.shard.version, "chunks": response.shard.chunks, "index_type": response.shard.index_type},
            }
        )
    else:
        print_table(
            ["document", "result", "chunks"],
            [[r.name, "ok" if r.ok else f"FAILED: {r.error}", r.chunks] for r in response.results],
        )
        shard = response.shard
        print(
            f"\n{response.documents_ingested} ingested, {response.documents_failed} failed; "
            f"shard v{shard.version}: {shard.chunks} chunks from {shard.documents} documents ({shard.index_type}, {shard.embedder})"
        )
    audit_elsewhere(args, "ingest", args.org, {
        "documents": [r.name for r in response.results if r.ok], "failed": [r.name for r in response.results if not r.ok],
        "rebuild": args.rebuild, "chunks_added": response.chunks_added, "chunks_removed": response.chunks_removed,
        "shard_version": response.shard.version,
    })  # fmt: skip
    return 1 if response.documents_failed else 0


def run_list_documents(args: argparse.Namespace) -> int:
    with grpc.insecure_channel(args.addr, options=CHANNEL_OPTIONS) as channel:
        response = retrieval_pb2_grpc.RetrievalStub(channel).ListDocuments(pb.ListDocumentsRequest(org_id=args.org), timeout=args.timeout)
    if args.json:
        print_json({"org_id": args.org, "documents": [{"name": d.name, "chunks": d.chunks} for d in response.documents]})
    elif not response.documents:
        print(f"no documents for {args.org}")
    else:
        print_table(["document", "chunks"], [[d.name, d.chunks] for d in response.documents])
    return 0


def run_delete_document(args: argparse.Namespace) -> int:
    with grpc.insecure_channel(args.addr, options=CHANNEL_OPTIONS) as channel:
        response = retrieval_pb2_grpc.RetrievalStub(channel).DeleteDocument(
            pb.DeleteDocumentRequest(org_id=args.org, document=args.document), timeout=args.timeout, metadata=_admin_metadata(args)
        )
    audit_elsewhere(args, "document.delete", args.org, {
        "document": args.document, "chunks_removed": response.chunks_removed, "shard_version": response.shard.version,
    })  # fmt: skip
    if args.json:
        print_json({"org_id": args.org, "document": args.document, "chunks_removed": response.chunks_removed,
                    "shard": {"version": response.shard.version, "chunks": response.shard.chunks}})  # fmt: skip
    else:
        print(f"deleted {args.document} from {args.org}: {response.chunks_removed} chunks removed, shard v{response.shard.version}")
    return 0


def run_search(args: argparse.Namespace) -> int:
    query = " ".join(args.query)
    with grpc.insecure_channel(args.addr, options=CHANNEL_OPTIONS) as channel:
        response = retrieval_pb2_grpc.RetrievalStub(channel).Search(
            pb.SearchRequest(org_id=args.org, query=query, top_k=args.top_k, min_score=args.min_score),
            timeout=args.timeout,
        )
    if args.json:
        print_json(
            {
                "query": query,
                "embedder": response.embedder,
                "hits": [
                    {"score": round(h.score, 4), "document": h.document, "chunk_id": h.chunk_id, "position": h.position, "text": h.text}
                    for h in response.hits
                ],
            }
        )
        return 0
    print(f"query: {query}")
    if not response.hits:
        print("no hits")
    for rank, hit in enumerate(response.hits, start=1):
        print(f"\n{rank}. {hit.score:.3f}  {hit.chunk_id}")
        print(textwrap.indent(textwrap.fill(hit.text, width=96), "   "))
    return 0
