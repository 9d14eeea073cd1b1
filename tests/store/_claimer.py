"""A separate process that claims due credentials until none is left (run by test_claims).

Usage: python _claimer.py URL OWNER; the master key comes in CERTROTOR_MASTER_KEY. Prints "ready",
waits for a line on stdin (so every process starts claiming at once), then prints the claimed
names as one JSON list.
"""

from __future__ import annotations

import json
import os
import sys

from certrotor.crypto import utcnow
from certrotor.keyvault import MasterKey
from certrotor.store import Store

MAX_ROUNDS = 10_000


def main() -> None:
    url, owner = sys.argv[1], sys.argv[2]
    store = Store.open(url, MasterKey.from_base64url(os.environ["CERTROTOR_MASTER_KEY"]))
    print("ready", flush=True)
    sys.stdin.readline()
    claimed: list[str] = []
    for _round in range(MAX_ROUNDS):
        batch = store.claim_due(utcnow(), owner, lease_seconds=600, limit=3)
        if not batch:
            break
        claimed.extend(credential.name for credential in batch)
    store.close()
    print(json.dumps(claimed), flush=True)


if __name__ == "__main__":
    main()
