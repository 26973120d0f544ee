"""Seed users as tab-separated rows (name, kind, password_hash) for COPY: citizen-0001 ... citizen-0500
and clerk-001 ... clerk-200, all with the password "drill", hashed like the app does (PBKDF2-SHA256,
the app's default HASH_ITERATIONS, a random salt per user). Uses every CPU of the build machine."""

import hashlib
import multiprocessing
import os

ITERATIONS = 30000          # keep equal to the default HASH_ITERATIONS of identity_app.py
PASSWORD = b"drill"


def row(user: tuple[str, str]) -> str:
    name, kind = user
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", PASSWORD, salt, ITERATIONS)
    return f"{name}\t{kind}\tpbkdf2_sha256${ITERATIONS}${salt.hex()}${digest.hex()}"


if __name__ == "__main__":
    users = [(f"citizen-{i:04d}", "citizen") for i in range(1, 501)]
    users += [(f"clerk-{i:03d}", "clerk") for i in range(1, 201)]
    with multiprocessing.Pool() as pool:
        for line in pool.imap(row, users, chunksize=20):
            print(line)
