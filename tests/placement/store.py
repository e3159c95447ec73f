"""Stores keys through a real Python memcached client, for tests/placement.rs.

    store.py pylibmc   SERVER...   (SERVER = host:port:weight; ketama_weighted)
    store.py pymemcache SERVER...  (SERVER = host:port; HashClient, rendezvous)

Keys come on stdin, one per line, hex-encoded (pylibmc gets the bytes; pymemcache gets
the UTF-8 string they decode to, as a Python service would pass it). Prints "stored N".
"""

import sys


def main():
    mode, servers = sys.argv[1], sys.argv[2:]
    keys = [bytes.fromhex(line.strip()) for line in sys.stdin if line.strip()]
    if mode == "pylibmc":
        import pylibmc

        client = pylibmc.Client(servers, behaviors={"ketama_weighted": True})
        for key in keys:
            if not client.set(key, b"1"):
                sys.exit(f"pylibmc refused {key!r}")
    elif mode == "pymemcache":
        from pymemcache.client.hash import HashClient

        hosts = []
        for s in servers:
            host, port = s.rsplit(":", 1)
            hosts.append((host, int(port)))
        client = HashClient(hosts, allow_unicode_keys=True, default_noreply=False)
        for key in keys:
            if not client.set(key.decode("utf-8"), b"1", noreply=False):
                sys.exit(f"pymemcache refused {key!r}")
    else:
        sys.exit(f"unknown mode {mode}")
    print(f"stored {len(keys)}")


main()
