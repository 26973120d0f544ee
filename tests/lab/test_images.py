"""drillkit.lab.images against the real engine: builds cached by content, Toxiproxy from its Go module.

Everything created here carries a unique name/tag and is removed afterwards; the shared base image
(debian:bookworm-slim) and the shared Toxiproxy image are kept.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from drillkit.errors import DockerUnavailable, ImageBuildError
from drillkit.lab.images import (
    HASH_LABEL,
    TOXIPROXY_IMAGE,
    TOXIPROXY_VERSION,
    BuildSpec,
    build_images,
    ensure_base_images,
    ensure_toxiproxy_image,
)

pytestmark = pytest.mark.lab

BASE = "debian:bookworm-slim"
TEST_LABEL = "drillkit.test"


@pytest.fixture(scope="module")
def docker_client():
    from drillkit.lab.engine import client

    try:
        return client()
    except DockerUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def base(docker_client, tmp_path_factory):
    # Creates debian:bookworm-slim with debootstrap (~45 s) only if it is missing.
    d = tmp_path_factory.mktemp("base-check")
    (d / "Dockerfile").write_text(f"FROM {BASE}\n")
    cache = Path(__file__).resolve().parents[2] / ".cache"
    ensure_base_images(docker_client, [BuildSpec(tag="drillkit-test/base-check:unused", context=d)],
                       progress=print, cache_dir=cache)
    return BASE


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


class Cleanup(list):
    """Tags this test creates; ``seen`` also records every image ID built, so superseded builds go too."""

    def __init__(self, client):
        super().__init__()
        self.client = client
        self.ids: list[str] = []

    def seen(self, results) -> None:
        for r in results:
            try:
                self.ids.append(self.client.images.get(r.tag).id)
            except Exception:
                pass


@pytest.fixture
def cleanup_images(docker_client):
    tags = Cleanup(docker_client)
    yield tags
    for ref in [*reversed(tags), *reversed(tags.ids)]:  # children before parents
        try:
            docker_client.images.remove(ref, force=True)
        except Exception:
            pass


def test_build_twice_second_is_cached(docker_client, base, tmp_path, unique, cleanup_images):
    tag = f"drillkit-test/images-{unique}:dev"
    cleanup_images.append(tag)
    (tmp_path / "Dockerfile").write_text(f"FROM {base}\nARG GREETING=hello\nCOPY hello.txt /hello.txt\n"
                                         "RUN echo \"$GREETING\" >> /hello.txt\nCMD [\"cat\", \"/hello.txt\"]\n")
    (tmp_path / "hello.txt").write_text("from the context\n")
    (tmp_path / ".dockerignore").write_text("*.tmp\n")
    spec = BuildSpec(tag=tag, context=tmp_path, args={"GREETING": "hi"})
    lines: list[str] = []

    first = build_images(docker_client, [spec], progress=lines.append)[0]
    cleanup_images.seen([first])
    assert first.cached is False and first.tag == tag
    assert any(line == f"building {tag} …" for line in lines)
    assert docker_client.images.get(tag).labels[HASH_LABEL] == first.content_hash

    lines.clear()
    second = build_images(docker_client, [spec], progress=lines.append)[0]
    assert second.cached is True and second.content_hash == first.content_hash
    assert lines == [f"{tag}: cached (content unchanged)"]
    assert second.seconds < first.seconds   # nothing built: quicker than the build it reuses

    (tmp_path / "scratch.tmp").write_text("ignored")
    assert build_images(docker_client, [spec], progress=lines.append)[0].cached is True

    (tmp_path / "hello.txt").write_text("changed\n")
    third = build_images(docker_client, [spec], progress=lines.append)[0]
    assert third.cached is False and third.content_hash != first.content_hash
    out = docker_client.containers.run(tag, remove=True, name=f"drillkit-test-img-{unique}",
                                       labels={TEST_LABEL: unique})
    assert out.decode() == "changed\nhi\n"


def test_local_chain_and_parallel(docker_client, base, tmp_path, unique, cleanup_images):
    parent, child, other = (f"drillkit-test/{n}-{unique}:dev" for n in ("parent", "child", "other"))
    cleanup_images.extend([parent, other, child])
    specs = []
    for name, tag, text in (("child", child, f"FROM {parent}\nRUN test -f /parent\n"),
                            ("parent", parent, f"FROM {base}\nRUN touch /parent\n"),
                            ("other", other, f"FROM {base}\nRUN touch /other\n")):
        d = tmp_path / name
        d.mkdir()
        (d / "Dockerfile").write_text(text)
        specs.append(BuildSpec(tag=tag, context=d))
    # the child's FROM is produced by a spec: ensure_base_images must not try to create it
    assert ensure_base_images(docker_client, specs, progress=lambda s: None) == []
    results = build_images(docker_client, specs, progress=lambda s: None)
    cleanup_images.seen(results)
    assert [r.tag for r in results] == [child, parent, other]
    assert not any(r.cached for r in results)
    assert all(r.cached for r in build_images(docker_client, specs, progress=lambda s: None))

    # a changed parent rebuilds the child too (its base image ID is part of the cache key)
    (tmp_path / "parent" / "Dockerfile").write_text(f"FROM {base}\nRUN touch /parent /parent2\n")
    again = {r.tag: r.cached for r in build_images(docker_client, specs, progress=lambda s: None)}
    assert again == {child: False, parent: False, other: True}


def test_build_failure_names_dockerfile_and_tail(docker_client, base, tmp_path, unique, cleanup_images):
    tag = f"drillkit-test/broken-{unique}:dev"
    cleanup_images.append(tag)
    (tmp_path / "Dockerfile").write_text(f"FROM {base}\nRUN echo about-to-fail-{unique} && false\n")
    with pytest.raises(ImageBuildError) as ei:
        build_images(docker_client, [BuildSpec(tag=tag, context=tmp_path)], progress=lambda s: None)
    msg = str(ei.value)
    assert str(tmp_path / "Dockerfile") in msg
    assert f"about-to-fail-{unique}" in msg  # the tail of the build output
    assert "returned a non-zero code" in msg


def test_missing_non_debian_base_is_a_clear_error(docker_client, tmp_path, unique):
    name = f"drillkit-test/no-such-base-{unique}:1"
    (tmp_path / "Dockerfile").write_text(f"FROM {name}\n")
    with pytest.raises(ImageBuildError) as ei:
        ensure_base_images(docker_client, [BuildSpec(tag=f"drillkit-test/x-{unique}:1", context=tmp_path)],
                           progress=lambda s: None, cache_dir=tmp_path / "cache")
    assert name in str(ei.value) and "missing locally" in str(ei.value) and "fix:" in str(ei.value)
    assert not (tmp_path / "cache").exists(), "no debootstrap for a non-Debian name"


def test_present_base_is_not_created(docker_client, base, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM {base}\n")
    assert ensure_base_images(docker_client, [BuildSpec(tag="drillkit-test/y:1", context=tmp_path)],
                              progress=lambda s: None, cache_dir=tmp_path / "cache") == []


@pytest.mark.slow
def test_toxiproxy_image_built_once_and_runs(docker_client, base, unique):
    cache = Path(__file__).resolve().parents[2] / ".cache"
    first = ensure_toxiproxy_image(docker_client, progress=print, cache_dir=cache)  # go build if needed
    assert first.tag == TOXIPROXY_IMAGE
    lines: list[str] = []
    second = ensure_toxiproxy_image(docker_client, progress=lines.append, cache_dir=cache)
    assert second.cached is True and second.content_hash == first.content_hash
    assert lines == [f"{TOXIPROXY_IMAGE}: cached (content unchanged)"]   # nothing built

    version = TOXIPROXY_VERSION.lstrip("v")
    c = docker_client.containers.run(TOXIPROXY_IMAGE, ["-version"], detach=True,
                                     name=f"drillkit-test-toxiproxy-version-{unique}",
                                     labels={TEST_LABEL: unique})
    try:
        assert c.wait(timeout=30)["StatusCode"] == 0
        assert f"toxiproxy-server version {version}" in c.logs().decode()
    finally:
        c.remove(force=True)

    c = docker_client.containers.run(TOXIPROXY_IMAGE, detach=True, name=f"drillkit-test-toxiproxy-{unique}",
                                     labels={TEST_LABEL: unique}, ports={"8474/tcp": ("127.0.0.1", None)})
    try:
        deadline = time.monotonic() + 20
        while True:
            c.reload()
            port = (c.ports.get("8474/tcp") or [{}])[0].get("HostPort")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=2) as resp:
                    body = resp.read().decode()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert version in body
        try:
            assert json.loads(body)["version"] == version
        except json.JSONDecodeError:  # older servers answer plain text
            pass
    finally:
        c.remove(force=True)
