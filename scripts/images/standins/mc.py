"""MinIO's client as the bucket Job uses it: `mc alias set NAME URL KEY SECRET` and `mc mb [--ignore-existing]
NAME/BUCKET`, through boto3, for images-check."""

import json
import os
import sys
from pathlib import Path

import boto3

ALIASES = Path(os.environ.get("MC_CONFIG_DIR") or os.environ.get("HOME", "/tmp")) / "aliases.json"
args = sys.argv[1:]
if args[:2] == ["alias", "set"]:
    name, url, key, secret = args[2:6]
    aliases = json.loads(ALIASES.read_text()) if ALIASES.exists() else {}
    ALIASES.parent.mkdir(parents=True, exist_ok=True)
    ALIASES.write_text(json.dumps({**aliases, name: {"url": url, "key": key, "secret": secret}}))
elif args[:1] == ["mb"]:
    alias, bucket = [arg for arg in args[1:] if not arg.startswith("--")][0].split("/", 1)
    store = json.loads(ALIASES.read_text())[alias]
    s3 = boto3.client("s3", endpoint_url=store["url"], aws_access_key_id=store["key"],
                      aws_secret_access_key=store["secret"], region_name="us-east-1")
    if "--ignore-existing" not in args or bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=bucket)
    print(f"Bucket created successfully `{alias}/{bucket}`.")
else:
    sys.exit(f"mc stand-in: unsupported command {args}")
