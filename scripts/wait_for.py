"""Wait until something accepts TCP connections at HOST:PORT (exit 0), or time out (exit 1).

    python scripts/wait_for.py 127.0.0.1:6379 [TIMEOUT_S]

Used by the cluster profile so that processes needing a server it starts itself (Redis)
do not start before it. Standard library only.
"""
import socket
import sys
import time


def main(argv: list[str]) -> int:
    host, _, port = argv[1].rpartition(":")
    deadline = time.monotonic() + (float(argv[2]) if len(argv) > 2 else 30.0)
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return 0
        except OSError:
            time.sleep(0.2)
    print(f"nothing answered at {argv[1]}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
