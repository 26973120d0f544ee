"""Images without a registry, cached by content.

Nothing can be pulled in the lab, so every image a drill needs is made locally:

* ``ensure_base_images`` finds the ``FROM`` images the Dockerfiles name and, when one is missing and is a
  Debian bookworm image, creates it from Debian's packages (``debootstrap --variant=minbase`` piped into
  ``docker import``), tagged with the very name the Dockerfile uses, so Dockerfiles stay standard.
* ``build_images`` builds with the legacy builder and labels each image ``drillkit.content-hash=<hash>``;
  an image whose tag already carries the same hash (and was built on the same base images) is not rebuilt.
* ``ensure_toxiproxy_image`` builds Toxiproxy's server from its official Go module on the host and wraps it
  in an image on top of ``debian:bookworm-slim``.

Every long step reports through ``progress`` (a callable taking one string).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from drillkit.errors import ImageBuildError

__all__ = [
    "TOXIPROXY_VERSION",
    "TOXIPROXY_IMAGE",
    "TOXIPROXY_MODULE",
    "HASH_LABEL",
    "BASES_LABEL",
    "BuildSpec",
    "BuildResult",
    "content_hash",
    "from_images",
    "is_debian_bookworm",
    "ensure_base_images",
    "build_images",
    "ensure_toxiproxy_image",
]

TOXIPROXY_VERSION = "v2.12.0"
TOXIPROXY_IMAGE = "drillkit/toxiproxy:2.12.0"
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2"

HASH_LABEL = "drillkit.content-hash"
#: sha256 over the IDs of the image's FROM images: a re-created base rebuilds what stands on it.
BASES_LABEL = "drillkit.base-images"

DEBIAN_MIRROR = "http://deb.debian.org/debian"
MIN_GO = (1, 23)
PULL_TIMEOUT = 30.0          # seconds; without a registry the engine answers in well under a second
DEBOOTSTRAP_TIMEOUT = 1200   # seconds
GO_TIMEOUT = 1200            # seconds
MAX_WORKERS = 2
TAIL_LINES = 15

_REPO_ROOT = Path(__file__).resolve().parents[3]
TOXIPROXY_DOCKERFILE = _REPO_ROOT / "environments" / "toxiproxy" / "Dockerfile"
# Used when drillkit runs from an installed package rather than a checkout (same instructions).
_TOXIPROXY_DOCKERFILE_FALLBACK = (
    "FROM debian:bookworm-slim\n"
    "COPY toxiproxy-server /usr/local/bin/toxiproxy-server\n"
    "EXPOSE 8474\n"
    'ENTRYPOINT ["/usr/local/bin/toxiproxy-server", "-host", "0.0.0.0", "-port", "8474"]\n'
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildSpec:
    tag: str                 # e.g. "drillkit/registry-app:dev"
    context: Path
    dockerfile: str = "Dockerfile"   # relative to context
    args: dict[str, str] | None = None


@dataclass(frozen=True)
class BuildResult:
    tag: str
    cached: bool             # True: an image with this tag and the same content hash already existed
    seconds: float
    content_hash: str


# --------------------------------------------------------------------------------------------------
# content hash


def _dockerfile_path(spec: BuildSpec) -> Path:
    p = Path(spec.dockerfile)
    return p if p.is_absolute() else Path(spec.context) / p


def _read_dockerfile(spec: BuildSpec) -> str:
    path = _dockerfile_path(spec)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImageBuildError(f"{spec.tag}: cannot read Dockerfile {path} ({exc.strerror or exc})",
                              fix="check the build context and dockerfile of this spec") from None


def _dockerignore(context: Path) -> list[str]:
    """The .dockerignore patterns, read exactly as the docker SDK reads them for the build context."""
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _context_files(context: Path, dockerfile: Path) -> list[str]:
    """Relative paths (files, dirs, links) the SDK sends as the build context, sorted."""
    from docker.utils.build import exclude_paths  # deferred: the SDK is heavy; builds alone need it

    try:
        rel_df = os.path.relpath(dockerfile, context)
    except ValueError:
        rel_df = "Dockerfile"
    return sorted(exclude_paths(str(context), _dockerignore(context), dockerfile=rel_df))


def content_hash(spec: BuildSpec) -> str:
    """sha256 over the Dockerfile, every file of the context the build would see and the build args.

    Files count with their sorted relative path, bytes and exec bit (symlinks with their target,
    directories with their name); ``.dockerignore`` is honoured with the docker SDK's own matcher, so
    the hash covers exactly what ``build_images`` sends. Timestamps and owners do not count.
    """
    context = Path(spec.context).resolve()
    if not context.is_dir():
        raise ImageBuildError(f"{spec.tag}: build context {context} is not a directory",
                              fix="point the spec's context at the folder holding the Dockerfile")
    dockerfile = _dockerfile_path(BuildSpec(spec.tag, context, spec.dockerfile, spec.args))
    if not dockerfile.is_file():
        raise ImageBuildError(f"{spec.tag}: Dockerfile {dockerfile} not found",
                              fix="the spec's dockerfile is relative to its context")

    h = hashlib.sha256()

    def put(*parts: bytes) -> None:
        for part in parts:
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)

    put(b"drillkit-image-hash-v1")
    put(b"dockerfile", spec.dockerfile.encode(), dockerfile.read_bytes())
    for key, value in sorted((spec.args or {}).items()):
        put(b"arg", str(key).encode(), str(value).encode())
    for rel in _context_files(context, dockerfile):
        path = context / rel
        try:
            st = path.lstat()
        except FileNotFoundError:  # vanished while walking
            continue
        name = rel.replace(os.sep, "/").encode()
        if stat.S_ISLNK(st.st_mode):
            put(b"link", name, os.readlink(path).encode())
        elif stat.S_ISDIR(st.st_mode):
            put(b"dir", name)
        elif stat.S_ISREG(st.st_mode):
            fh = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    fh.update(block)
            put(b"file", name, b"x" if st.st_mode & 0o111 else b"-", fh.digest())
        # sockets, fifos, devices: the SDK skips or cannot send them meaningfully
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# FROM lines and image names


_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}"
                  r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


def _substitute(text: str, values: dict[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group("braced") or m.group("bare")
        value = values.get(name)
        if value:
            return value
        return m.group("default") or ""
    return _VAR.sub(repl, text)


def _logical_lines(text: str) -> Iterator[str]:
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):  # comment lines inside a continuation are dropped
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        yield (buf + line).strip()
        buf = ""
    if buf.strip():
        yield buf.strip()


def from_images(dockerfile_text: str, args: dict[str, str] | None = None) -> list[str]:
    """The external images a Dockerfile's FROM lines name, in order, without stage aliases and scratch.

    ``ARG`` values declared before the first FROM (overridden by build ``args``) are substituted.
    """
    args = args or {}
    values: dict[str, str] = {}
    stages: set[str] = set()
    seen_from = False
    out: list[str] = []
    for line in _logical_lines(dockerfile_text):
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        if instr == "ARG" and not seen_from:
            for token in rest.split():
                name, eq, default = token.partition("=")
                default = default.strip("\"'") if eq else ""
                values[name] = args.get(name, default)
        elif instr == "FROM":
            seen_from = True
            tokens = [t for t in rest.split() if not t.startswith("--")]
            if not tokens:
                continue
            image = _substitute(tokens[0], values)
            if len(tokens) >= 3 and tokens[1].lower() == "as":
                alias = tokens[2].lower()
            else:
                alias = None
            if image.lower() != "scratch" and image.lower() not in stages and image not in out:
                out.append(image)
            if alias:
                stages.add(alias)
    return out


def _split_name(name: str) -> tuple[str, str | None]:
    """repository, tag (None when the name has none or pins a digest)."""
    if "@" in name:
        return name.split("@", 1)[0], None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:]
    return name, None


def _norm(name: str) -> str:
    """Canonical short form for comparing names: no docker.io/library prefix, ':latest' made explicit."""
    repo, tag = _split_name(name)
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if repo.startswith(prefix):
            repo = repo[len(prefix):]
    if repo.startswith("library/"):
        repo = repo[len("library/"):]
    if "@" in name:
        return f"{repo}@{name.split('@', 1)[1]}"
    return f"{repo}:{tag or 'latest'}"


_BOOKWORM_TAG = re.compile(r"^(?:bookworm|12(?:\.\d+)?)(?:-\d{8})?(?:-slim)?$")


def is_debian_bookworm(name: str) -> bool:
    """debian:bookworm, debian:bookworm-slim, debian:12, debian:12.8-slim, debian:bookworm-20240101 …"""
    if "@" in name:
        return False
    repo, tag = _norm(name).rsplit(":", 1)
    return repo == "debian" and bool(_BOOKWORM_TAG.match(tag))


def _image(client, name: str):
    """The local image or None."""
    import docker.errors  # deferred: the Docker SDK is heavy; only what talks to the engine needs it

    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        if getattr(exc, "status_code", None) == 404:
            return None
        raise


# --------------------------------------------------------------------------------------------------
# base images


def _tail(text: str, n: int = TAIL_LINES) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join("  | " + line for line in lines[-n:])


def _try_pull(client, name: str) -> str | None:
    """Pull quickly; None on success, else the reason (one line)."""
    repo, tag = _split_name(name)
    outcome: dict[str, str | None] = {}

    def run() -> None:
        try:
            client.images.pull(repo, tag=tag or "latest")
            outcome["error"] = None
        except Exception as exc:  # APIError, ImageNotFound, connection errors
            outcome["error"] = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__

    t = threading.Thread(target=run, name=f"drillkit-pull-{repo}", daemon=True)
    t.start()
    t.join(PULL_TIMEOUT)
    if t.is_alive():
        return f"no answer within {PULL_TIMEOUT:.0f} s"
    return outcome.get("error", "unknown error")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


_DEBOOTSTRAP_FIX = "`apt-get install debootstrap` (Debian/Ubuntu) and run as root — debootstrap needs root"


def _create_debian_base(client, name: str, *, progress: Progress, cache_dir: Path) -> None:
    """debootstrap a minimal bookworm into cache_dir and `docker import` it as ``name`` (CMD bash)."""
    if shutil.which("debootstrap") is None:
        raise ImageBuildError(f"cannot create {name} without a registry: debootstrap is not installed",
                              fix=_DEBOOTSTRAP_FIX)
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise ImageBuildError(f"cannot create {name}: debootstrap needs root (running as uid {os.geteuid()})",
                              fix=_DEBOOTSTRAP_FIX)
    cache_dir = Path(cache_dir).resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    rootfs = cache_dir / "debian-bookworm-minbase"
    marker = rootfs / ".drillkit-complete"
    log = cache_dir / "debootstrap-bookworm.log"

    with _file_lock(cache_dir / "debian-bookworm.lock"):
        if _image(client, name) is not None:  # made by a concurrent run while we waited
            return
        t0 = time.monotonic()
        if not marker.exists():
            if rootfs.exists():  # left over by an interrupted run
                shutil.rmtree(rootfs)
            progress(f"creating {name} from Debian packages (debootstrap, ~45 s)…")
            cmd = ["debootstrap", "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR]
            try:
                with open(log, "wb") as lf:
                    rc = subprocess.run(cmd, stdout=lf, stderr=subprocess.STDOUT,
                                        timeout=DEBOOTSTRAP_TIMEOUT).returncode
            except subprocess.TimeoutExpired:
                rc = f"timeout after {DEBOOTSTRAP_TIMEOUT} s"
            if rc != 0:
                text = log.read_text(errors="replace") if log.exists() else ""
                raise ImageBuildError(
                    f"debootstrap failed ({rc}) while creating {name}; log {log}:\n{_tail(text)}\n",
                    fix=f"{_DEBOOTSTRAP_FIX}; the mirror {DEBIAN_MIRROR} must be reachable")
            marker.touch()
            progress(f"{name}: Debian root filesystem ready in {time.monotonic() - t0:.0f} s, importing …")
        else:
            progress(f"creating {name} from the cached Debian root filesystem {rootfs} …")

        repo, tag = _split_name(name)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner",
                                "--exclude=./.drillkit-complete", "-c", "."],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert tar.stdout is not None
        try:
            client.api.import_image_from_stream(iter(lambda: tar.stdout.read(1 << 20), b""),
                                                repository=repo, tag=tag or "latest",
                                                changes=['CMD ["bash"]'])
        except Exception as exc:
            tar.kill()
            raise ImageBuildError(f"docker import of {rootfs} as {name} failed: {str(exc).splitlines()[0]}",
                                  fix="check `docker info` and the free space of the engine") from None
        finally:
            tar.stdout.close()
            err = tar.stderr.read().decode(errors="replace") if tar.stderr else ""
            tar.wait()
        if tar.returncode != 0:
            raise ImageBuildError(f"tar of {rootfs} failed (exit {tar.returncode}):\n{_tail(err)}\n",
                                  fix=f"remove {rootfs} and run again")
        if _image(client, name) is None:
            raise ImageBuildError(f"docker import reported success but {name} is not there",
                                  fix="check `docker images` and the engine's log")
        progress(f"{name}: created in {time.monotonic() - t0:.0f} s")


def ensure_base_images(client, specs: list[BuildSpec], *, progress: Progress = print,
                       cache_dir: Path = Path(".cache")) -> list[str]:
    """Make every FROM image of the specs exist locally; returns the names created.

    Names produced by another spec (local chains) and multi-stage aliases are skipped. A missing name is
    pulled if the engine can (quickly; it fails without a registry); a Debian bookworm name is then created
    with debootstrap + docker import; any other missing name is an ImageBuildError.
    """
    produced = {_norm(s.tag) for s in specs}
    wanted: list[tuple[str, BuildSpec]] = []
    seen: set[str] = set()
    for spec in specs:
        for name in from_images(_read_dockerfile(spec), spec.args):
            key = _norm(name)
            if key in produced or key in seen:
                continue
            seen.add(key)
            wanted.append((name, spec))

    created: list[str] = []
    for name, spec in wanted:
        if _image(client, name) is not None:
            continue
        progress(f"{name}: not found locally, trying to pull it …")
        reason = _try_pull(client, name)
        if reason is None and _image(client, name) is not None:
            progress(f"{name}: pulled")
            continue
        if not is_debian_bookworm(name):
            raise ImageBuildError(
                f"base image {name} (FROM in {_dockerfile_path(spec)}) is missing locally and cannot be "
                f"pulled ({reason})",
                fix=f"load or build {name} first (`docker load`, `docker import`), or base the Dockerfile on "
                    "debian:bookworm-slim, which drillkit creates from Debian's packages")
        _create_debian_base(client, name, progress=progress, cache_dir=Path(cache_dir))
        created.append(name)
    return created


# --------------------------------------------------------------------------------------------------
# building


def _bases_fingerprint(client, spec: BuildSpec) -> tuple[str, list[str]]:
    """sha256 over 'name=image id' of the spec's FROM images, and the names that are missing."""
    h = hashlib.sha256()
    missing: list[str] = []
    for name in from_images(_read_dockerfile(spec), spec.args):
        img = _image(client, name)
        if img is None:
            missing.append(name)
        h.update(f"{_norm(name)}={img.id if img else 'missing'}\n".encode())
    return h.hexdigest(), missing


def _is_cached(client, spec: BuildSpec, chash: str, bases: str) -> bool:
    img = _image(client, spec.tag)
    if img is None:
        return False
    labels = (img.attrs.get("Config") or {}).get("Labels") or {}
    return labels.get(HASH_LABEL) == chash and labels.get(BASES_LABEL) == bases


def _build_one(client, spec: BuildSpec, progress: Progress, *, chash: str | None = None,
               t0: float | None = None, stop: threading.Event | None = None) -> BuildResult:
    import docker.errors  # deferred: the Docker SDK is heavy; only what talks to the engine needs it

    t0 = time.monotonic() if t0 is None else t0
    chash = chash or content_hash(spec)
    dockerfile = _dockerfile_path(spec)
    bases, missing = _bases_fingerprint(client, spec)
    if _is_cached(client, spec, chash, bases):
        progress(f"{spec.tag}: cached (content unchanged)")
        return BuildResult(spec.tag, True, time.monotonic() - t0, chash)
    if missing:
        raise ImageBuildError(
            f"cannot build {spec.tag} from {dockerfile}: base image {', '.join(missing)} is missing locally",
            fix="call drillkit.lab.images.ensure_base_images first (it creates debian:bookworm* offline)")

    progress(f"building {spec.tag} …")
    lines: deque[str] = deque(maxlen=200)
    error: str | None = None
    try:
        stream = client.api.build(
            path=str(Path(spec.context).resolve()), dockerfile=spec.dockerfile, tag=spec.tag,
            buildargs=dict(spec.args) if spec.args else None,
            labels={HASH_LABEL: chash, BASES_LABEL: bases},
            rm=True, forcerm=True, pull=False, decode=True)
        for chunk in stream:
            if stop is not None and stop.is_set():   # Ctrl-C: closing the stream makes the engine stop
                stream.close()
                raise ImageBuildError(f"building {spec.tag} was stopped (Ctrl-C or SIGTERM)")
            if "stream" in chunk:
                for line in str(chunk["stream"]).splitlines():
                    line = line.rstrip()
                    if not line:
                        continue
                    lines.append(line)
                    if line.startswith("Step "):
                        progress(f"{spec.tag}: {line}")
            if "error" in chunk:
                error = str(chunk["error"]).strip()
                detail = (chunk.get("errorDetail") or {}).get("message")
                lines.append(f"ERROR: {detail or error}")
    except (docker.errors.APIError, docker.errors.DockerException, OSError) as exc:
        error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        lines.append(f"ERROR: {error}")
    if error is None and _image(client, spec.tag) is None:
        error = "the engine reported no error but the image is not there"
    if error is not None:
        tail = "\n".join("  | " + line for line in list(lines)[-TAIL_LINES:])
        exc = ImageBuildError(f"building {spec.tag} from {dockerfile} failed: {error.splitlines()[0]}\n{tail}")
        exc.log_tail = list(lines)[-TAIL_LINES:]  # type: ignore[attr-defined]
        raise exc
    seconds = time.monotonic() - t0
    progress(f"{spec.tag}: built in {seconds:.1f} s")
    return BuildResult(spec.tag, False, seconds, chash)


def build_images(client, specs: list[BuildSpec], *, progress: Progress = print) -> list[BuildResult]:
    """Build every spec (legacy builder), skipping those whose image already carries the same hash.

    Specs whose FROM names another spec's tag are built after it; independent ones run in parallel on at
    most two workers. Results come back in the order of ``specs``. The first failure raises
    ImageBuildError (builds already running finish; nothing new starts).
    """
    specs = list(specs)
    index: dict[str, int] = {}
    for i, spec in enumerate(specs):
        key = _norm(spec.tag)
        if key in index:
            raise ImageBuildError(f"two build specs produce the same tag {spec.tag}",
                                  fix="give every service build its own image tag")
        index[key] = i
    deps: dict[int, set[int]] = {}
    for i, spec in enumerate(specs):
        deps[i] = {index[_norm(n)] for n in from_images(_read_dockerfile(spec), spec.args)
                   if _norm(n) in index and index[_norm(n)] != i}

    results: list[BuildResult | None] = [None] * len(specs)
    done: set[int] = set()
    pending = set(range(len(specs)))
    failure: BaseException | None = None
    stop = threading.Event()      # Ctrl-C in the caller: running builds stop at their next line
    with cf.ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="drillkit-build") as pool:
        running: dict[cf.Future[BuildResult], int] = {}
        try:
            failure = _build_loop(client, specs, deps, progress, pool, running, pending, done, results, stop)
        except BaseException:
            stop.set()
            for fut in running:
                fut.cancel()
            raise
    if failure is not None:
        raise failure
    return [r for r in results if r is not None]


def _build_loop(client, specs: list[BuildSpec], deps: dict[int, set[int]], progress: Progress, pool, running: dict,
                pending: set[int], done: set[int], results: list, stop: threading.Event) -> BaseException | None:
    """Start builds as their bases are done (two at a time); the first failure is returned."""
    failure: BaseException | None = None
    while (pending and failure is None) or running:
        if failure is None:
            for i in sorted(pending):
                if deps[i] <= done:
                    running[pool.submit(_build_one, client, specs[i], progress, stop=stop)] = i
                    pending.discard(i)
        if not running:
            cycle = ", ".join(specs[i].tag for i in sorted(pending))
            raise ImageBuildError(f"build specs depend on each other in a cycle: {cycle}",
                                  fix="break the FROM chain between these images")
        finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
        for fut in finished:
            i = running.pop(fut)
            try:
                results[i] = fut.result()
                done.add(i)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                failure = failure or exc
    return failure


# --------------------------------------------------------------------------------------------------
# Toxiproxy



def _go_version(go: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.match(r"go(\d+)\.(\d+)", out.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def _find_go() -> str:
    candidates: list[str] = []
    for c in (shutil.which("go"),
              os.path.join(os.environ["GOROOT"], "bin", "go") if os.environ.get("GOROOT") else None,
              "/usr/local/go/bin/go"):
        if c and os.path.isfile(c) and os.access(c, os.X_OK) and c not in candidates:
            candidates.append(c)
    found: list[str] = []
    for go in candidates:
        version = _go_version(go)
        if version is None:
            found.append(f"{go} (version unknown)")
            continue
        if version >= MIN_GO:
            return go
        found.append(f"{go} is go{version[0]}.{version[1]}")
    want = f"Go ≥ {MIN_GO[0]}.{MIN_GO[1]}"
    if not found:
        raise ImageBuildError(f"cannot build Toxiproxy {TOXIPROXY_VERSION}: no Go toolchain found (needs {want})",
                              fix=f"install {want} from https://go.dev/dl into /usr/local/go "
                                  "(Debian's golang-go 1.19 is too old)")
    raise ImageBuildError(f"cannot build Toxiproxy {TOXIPROXY_VERSION}: {'; '.join(found)}, needs {want}",
                          fix=f"install {want} from https://go.dev/dl into /usr/local/go or put it first on PATH")


def _build_toxiproxy_binary(cache_dir: Path, progress: Progress) -> Path:
    go = _find_go()
    gobin = Path(cache_dir).resolve() / "toxiproxy"
    gobin.mkdir(parents=True, exist_ok=True)
    log = gobin / "go-install.log"
    target = f"{TOXIPROXY_MODULE}/cmd/server@{TOXIPROXY_VERSION}"
    ldflags = f"-s -w -X {TOXIPROXY_MODULE}.Version={TOXIPROXY_VERSION.lstrip('v')}"
    env = dict(os.environ, CGO_ENABLED="0", GOBIN=str(gobin))
    env["PATH"] = os.path.dirname(go) + os.pathsep + env.get("PATH", "")
    progress(f"building toxiproxy-server {TOXIPROXY_VERSION} from the Go module {TOXIPROXY_MODULE} "
             f"(go install, about a minute the first time)…")
    t0 = time.monotonic()
    try:
        with open(log, "wb") as lf:
            rc = subprocess.run([go, "install", "-trimpath", "-ldflags", ldflags, target], env=env,
                                stdout=lf, stderr=subprocess.STDOUT, timeout=GO_TIMEOUT).returncode
    except subprocess.TimeoutExpired:
        rc = f"timeout after {GO_TIMEOUT} s"
    binary = gobin / "server"
    if rc != 0 or not binary.is_file():
        text = log.read_text(errors="replace") if log.exists() else ""
        raise ImageBuildError(f"`go install {target}` failed ({rc}); log {log}:\n{_tail(text)}\n",
                              fix="the Go module proxy (GOPROXY) must be reachable; check the log")
    progress(f"toxiproxy-server {TOXIPROXY_VERSION} built in {time.monotonic() - t0:.1f} s")
    return binary


def _toxiproxy_dockerfile() -> bytes:
    if TOXIPROXY_DOCKERFILE.is_file():
        return TOXIPROXY_DOCKERFILE.read_bytes()
    return _TOXIPROXY_DOCKERFILE_FALLBACK.encode()


def _toxiproxy_hash(dockerfile: bytes) -> str:
    h = hashlib.sha256()
    for part in (b"drillkit-toxiproxy-v1", TOXIPROXY_MODULE.encode(), TOXIPROXY_VERSION.encode(), dockerfile):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def ensure_toxiproxy_image(client, *, progress: Progress = print,
                           cache_dir: Path = Path(".cache")) -> BuildResult:
    """TOXIPROXY_IMAGE, built from the official Go module on the host when missing or out of date.

    The hash covers the Dockerfile and the version string (not the binary), so a second call runs
    neither go nor docker build.
    """
    t0 = time.monotonic()
    dockerfile = _toxiproxy_dockerfile()
    chash = _toxiproxy_hash(dockerfile)
    with tempfile.TemporaryDirectory(prefix="drillkit-toxiproxy-") as tmp:
        ctx = Path(tmp)
        (ctx / "Dockerfile").write_bytes(dockerfile)
        spec = BuildSpec(tag=TOXIPROXY_IMAGE, context=ctx)
        ensure_base_images(client, [spec], progress=progress, cache_dir=cache_dir)
        bases, _ = _bases_fingerprint(client, spec)
        if _is_cached(client, spec, chash, bases):
            progress(f"{TOXIPROXY_IMAGE}: cached (content unchanged)")
            return BuildResult(TOXIPROXY_IMAGE, True, time.monotonic() - t0, chash)
        binary = _build_toxiproxy_binary(Path(cache_dir), progress)
        shutil.copyfile(binary, ctx / "toxiproxy-server")
        os.chmod(ctx / "toxiproxy-server", 0o755)
        return _build_one(client, spec, progress, chash=chash, t0=t0)
