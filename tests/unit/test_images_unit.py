"""drillkit.lab.images without Docker: content hash, FROM parsing, base-image detection."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from drillkit.errors import ImageBuildError
from drillkit.lab import images
from drillkit.lab.images import BuildSpec, content_hash, ensure_base_images, from_images, is_debian_bookworm


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM debian:bookworm-slim\nCOPY . /app\n")
    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.txt").write_text("data\n")
    return tmp_path


def h(ctx: Path, **kw) -> str:
    return content_hash(BuildSpec(tag="drillkit/t:dev", context=ctx, **kw))


def test_stable_and_hex(ctx):
    a = h(ctx)
    assert a == h(ctx)
    assert len(a) == 64 and int(a, 16) >= 0


def test_independent_of_mtime_and_tag(ctx):
    a = h(ctx)
    os.utime(ctx / "app.py", (1, 1))
    assert h(ctx) == a
    assert content_hash(BuildSpec(tag="other:1", context=ctx)) == a


def test_changes_with_file_content(ctx):
    a = h(ctx)
    (ctx / "sub" / "data.txt").write_text("data2\n")
    assert h(ctx) != a


def test_changes_with_new_file_and_rename(ctx):
    a = h(ctx)
    (ctx / "new.txt").write_text("x")
    b = h(ctx)
    assert b != a
    (ctx / "new.txt").rename(ctx / "new2.txt")
    assert h(ctx) not in (a, b)


def test_changes_with_exec_bit(ctx):
    a = h(ctx)
    os.chmod(ctx / "app.py", 0o755)
    assert h(ctx) != a


def test_changes_with_dockerfile(ctx):
    a = h(ctx)
    (ctx / "Dockerfile").write_text("FROM debian:bookworm-slim\nCOPY . /srv\n")
    assert h(ctx) != a


def test_changes_with_args(ctx):
    a = h(ctx)
    b = h(ctx, args={"V": "1"})
    c = h(ctx, args={"V": "2"})
    assert len({a, b, c}) == 3
    assert h(ctx, args={}) == a
    assert h(ctx, args={"A": "1", "B": "2"}) == h(ctx, args={"B": "2", "A": "1"})


def test_other_dockerfile_name(ctx):
    (ctx / "Dockerfile.dev").write_text("FROM debian:bookworm-slim\n")
    assert h(ctx, dockerfile="Dockerfile.dev") != h(ctx)


def test_dockerignore_honoured(ctx):
    (ctx / ".dockerignore").write_text("# comment\n*.log\nbuild\n!keep.log\n")
    a = h(ctx)
    (ctx / "debug.log").write_text("noise")
    (ctx / "build").mkdir()
    (ctx / "build" / "out.bin").write_bytes(b"\0" * 10)
    assert h(ctx) == a, "ignored files must not change the hash"
    (ctx / "keep.log").write_text("kept")
    assert h(ctx) != a, "a re-included (!) file counts"


def test_dockerignore_cannot_hide_dockerfile(ctx):
    (ctx / ".dockerignore").write_text("Dockerfile\n")
    a = h(ctx)
    (ctx / "Dockerfile").write_text("FROM debian:bookworm-slim\nRUN true\n")
    assert h(ctx) != a


def test_missing_context_or_dockerfile(tmp_path):
    with pytest.raises(ImageBuildError, match="not a directory"):
        content_hash(BuildSpec(tag="t:1", context=tmp_path / "nope"))
    with pytest.raises(ImageBuildError, match="Dockerfile .* not found"):
        content_hash(BuildSpec(tag="t:1", context=tmp_path))


def test_from_images_stages_args_scratch():
    text = """
    # syntax comment
    ARG BASE=debian:bookworm-slim
    FROM --platform=linux/amd64 ${BASE} AS build
    RUN echo hi \\
        && echo there
    FROM build AS test
    FROM scratch
    FROM drillkit/app:dev
    COPY --from=build /x /x
    """
    assert from_images(text) == ["debian:bookworm-slim", "drillkit/app:dev"]
    assert from_images(text, {"BASE": "debian:12"}) == ["debian:12", "drillkit/app:dev"]


@pytest.mark.parametrize("name", ["debian:bookworm", "debian:bookworm-slim", "debian:12", "debian:12-slim",
                                  "debian:12.8", "debian:12.8-slim", "docker.io/library/debian:bookworm",
                                  "debian:bookworm-20240612-slim"])
def test_is_debian_bookworm(name):
    assert is_debian_bookworm(name)


@pytest.mark.parametrize("name", ["debian", "debian:latest", "debian:bullseye", "debian:13", "ubuntu:22.04",
                                  "mydebian:bookworm", "debian@sha256:" + "0" * 64])
def test_is_not_debian_bookworm(name):
    assert not is_debian_bookworm(name)


class FakeImages:
    def __init__(self, present):
        self.present = set(present)
        self.pulled: list[str] = []

    def get(self, name):
        import docker.errors
        if images._norm(name) in {images._norm(p) for p in self.present}:
            return object()
        raise docker.errors.ImageNotFound(f"No such image: {name}")

    def pull(self, repo, tag=None):
        import docker.errors
        self.pulled.append(f"{repo}:{tag}")
        raise docker.errors.APIError("Get https://registry-1.docker.io/v2/: no such host")


class FakeClient:
    def __init__(self, present=()):
        self.images = FakeImages(present)


def _spec(tmp_path: Path, name: str, text: str) -> BuildSpec:
    d = tmp_path / name
    d.mkdir()
    (d / "Dockerfile").write_text(text)
    return BuildSpec(tag=f"drillkit/{name}:dev", context=d)


def test_ensure_base_images_missing_non_debian_is_clear(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "_create_debian_base",
                        lambda *a, **k: pytest.fail("must not debootstrap a non-Debian image"))
    spec = _spec(tmp_path, "app", "FROM drillkit-test/nothing-here:1\n")
    with pytest.raises(ImageBuildError) as ei:
        ensure_base_images(FakeClient(), [spec], progress=lambda s: None)
    msg = str(ei.value)
    assert "drillkit-test/nothing-here:1" in msg and "missing locally" in msg and "fix:" in msg
    assert str(spec.context / "Dockerfile") in msg


def test_ensure_base_images_skips_local_chain_and_present(tmp_path, monkeypatch):
    created: list[str] = []
    monkeypatch.setattr(images, "_create_debian_base", lambda client, name, **k: created.append(name))
    base = _spec(tmp_path, "base", "FROM debian:bookworm-slim\n")
    app = _spec(tmp_path, "app", "FROM drillkit/base:dev\nFROM debian:12 AS x\nFROM x\n")
    client = FakeClient(present=["debian:bookworm-slim"])
    assert ensure_base_images(client, [base, app], progress=lambda s: None) == ["debian:12"]
    assert created == ["debian:12"]
    assert client.images.pulled == ["debian:12"]  # tried the pull first


def test_debootstrap_missing_names_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(images.shutil, "which", lambda name: None)
    spec = _spec(tmp_path, "app", "FROM debian:bookworm\n")
    with pytest.raises(ImageBuildError, match="apt-get install debootstrap"):
        ensure_base_images(FakeClient(), [spec], progress=lambda s: None, cache_dir=tmp_path / "c")


def test_go_missing_names_fix(monkeypatch):
    monkeypatch.setattr(images.shutil, "which", lambda name: None)
    monkeypatch.setattr(images.os.path, "isfile", lambda p: False)
    monkeypatch.delenv("GOROOT", raising=False)
    with pytest.raises(ImageBuildError, match=r"no Go toolchain.*go\.dev/dl"):
        images._find_go()


def test_go_too_old(monkeypatch, tmp_path):
    fake = tmp_path / "go"
    fake.write_text("#!/bin/sh\necho go1.19.8\n")
    fake.chmod(0o755)
    monkeypatch.setattr(images.shutil, "which", lambda name: str(fake))
    real_isfile = os.path.isfile
    monkeypatch.setattr(images.os.path, "isfile", lambda p: p == str(fake) or (p != "/usr/local/go/bin/go"
                                                                            and real_isfile(p)))
    monkeypatch.delenv("GOROOT", raising=False)
    with pytest.raises(ImageBuildError, match=r"go1\.19.*needs Go ≥ 1\.23"):
        images._find_go()


def test_toxiproxy_hash_is_dockerfile_and_version(monkeypatch):
    df = images._toxiproxy_dockerfile()
    assert b"FROM debian:bookworm-slim" in df and b"toxiproxy-server" in df and b"8474" in df
    a = images._toxiproxy_hash(df)
    assert a == images._toxiproxy_hash(df)
    assert images._toxiproxy_hash(df + b"\n") != a
    monkeypatch.setattr(images, "TOXIPROXY_VERSION", "v2.13.0")
    assert images._toxiproxy_hash(df) != a


def test_build_images_rejects_duplicate_tags(tmp_path):
    a = _spec(tmp_path, "a", "FROM debian:bookworm-slim\n")
    with pytest.raises(ImageBuildError, match="same tag"):
        images.build_images(FakeClient(), [a, a], progress=lambda s: None)
