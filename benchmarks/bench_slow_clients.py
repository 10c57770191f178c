"""Slow clients: /health answered while N clients trickle headers or bodies, with gunicorn
alone and with the shipped nginx snippet in front (deploy/nginx-survey-proxy.conf).

Prints one JSON line per setup: clients, seconds, probes answered / made (3 s timeout,
one a second), slowest answered probe. Usage:
    python benchmarks/bench_slow_clients.py [--clients 100] [--seconds 15]
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hostile.conftest import Server, free_port, prepare_database  # noqa: E402
from tests.hostile.test_slow_clients import nginx_conf, slow_load, start_nginx  # noqa: E402


def main():
    """Measure gunicorn alone, then behind nginx, on one temporary database."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        prepare_database(folder / "slow.sqlite")
        server = Server(folder / "slow.sqlite", workers=2, threads=4).start()
        try:
            for setup in ("gunicorn alone", "nginx in front"):
                nginx = None
                port = server.port
                if setup == "nginx in front":
                    port = free_port()
                    nginx = start_nginx(nginx_conf(folder, port, server.port), port)
                try:
                    answered, made, slowest = slow_load(port, args.clients, args.seconds)
                finally:
                    if nginx:
                        nginx.terminate()
                        nginx.wait(timeout=10)
                print(json.dumps({"setup": setup, "clients": args.clients, "seconds": args.seconds,
                                  "health_answered": answered, "health_probes": made,
                                  "slowest_ms": round(slowest * 1000)}))
        finally:
            server.kill()


if __name__ == "__main__":
    main()
