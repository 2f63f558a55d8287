"""MinIO's command line (`minio server DIR --address :PORT ...`) served by moto's S3 server, for images-check.

The S3 API is moto's; MinIO's own health endpoints (/minio/health/live and /ready), which the manifests probe,
answer 200. Objects live in memory: the check's data lives no longer than the check.
"""

import argparse

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

parser = argparse.ArgumentParser()
parser.add_argument("command", choices=["server"])
parser.add_argument("directory")
parser.add_argument("--address", default=":9000")
args, _ = parser.parse_known_args()  # console and certificate options do not apply
s3 = DomainDispatcherApplication(create_backend_app)


def app(environ, start_response):
    if environ["PATH_INFO"].startswith("/minio/health/"):
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]
    return s3(environ, start_response)


host, _, port = args.address.rpartition(":")
run_simple(host or "0.0.0.0", int(port), app, threaded=True, request_handler=MotoRequestHandler)
