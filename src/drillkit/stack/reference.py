"""References to the stack's own code, ``module:attr``, as a Compose file or scenario writes them.

``./file.py:attr`` is a file relative to the Compose file (or scenario), ``package.module:attr`` an
importable module. Used by the plug-in (``x-drillkit.plugin``), ``python`` runbook steps and ground
truth readers. Any problem is one `ConfigError` line naming the file, the line and the fix.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from drillkit.errors import ConfigError

__all__ = ["load_reference"]


def load_reference(ref: Any, base_dir: Path | None, *, file: str | None = None, line: int | None = None,
                   field: str = "x-drillkit.plugin", what: str = "plug-in") -> Any:
    """``./file.py:attr`` (relative to ``base_dir``) or ``package.module:attr`` -> the object.
    Any problem is a one-line ConfigError with file:line, field and fix."""
    example = "e.g. ./drill_plugin.py:plugin or mystack.drills:plugin"
    if not isinstance(ref, str) or ref.count(":") < 1 or not ref.rsplit(":", 1)[1] or not ref.rsplit(":", 1)[0]:
        raise ConfigError(f"{what} reference {ref!r} is not module:attr", file=file, line=line, field=field,
                          fix=example)
    mod_ref, attr = ref.rsplit(":", 1)
    is_path = mod_ref.endswith(".py") or "/" in mod_ref or mod_ref.startswith(".")
    try:
        if is_path:
            path = Path(mod_ref)
            if not path.is_absolute():
                path = (base_dir or Path.cwd()) / path
            path = path.resolve()
            if not path.is_file():
                raise ConfigError(f"{what} file {mod_ref!r} does not exist ({path})", file=file, line=line,
                                  field=field, fix="give the path relative to the Compose file")
            module = _load_file(path)
        else:
            module = importlib.import_module(mod_ref)
    except ConfigError:
        raise
    except ModuleNotFoundError as exc:
        raise ConfigError(f"{what} module {mod_ref!r} cannot be imported: {exc}", file=file, line=line,
                          field=field, fix="install it in drillkit's Python environment, or give a file path "
                                           "relative to the Compose file (./drill_plugin.py:plugin)") from None
    except Exception as exc:  # the plug-in's own code failed while importing
        first = (str(exc).splitlines() or [""])[0]
        raise ConfigError(f"{what} {mod_ref!r} failed to import: {type(exc).__name__}: {first}", file=file,
                          line=line, field=field, fix=f"fix the error in {mod_ref}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            have = ", ".join(n for n in dir(module) if not n.startswith("_"))[:200]
            raise ConfigError(f"{mod_ref} has no attribute {attr!r}", file=file, line=line, field=field,
                              fix=f"name one of: {have or '(nothing public)'}")
        obj = getattr(obj, part)
    return obj


def _load_file(path: Path):
    """Import a plug-in file once per content (its folder is on sys.path while it loads, so it can
    import modules beside it)."""
    digest = hashlib.sha1(f"{path}:{path.stat().st_mtime_ns}".encode()).hexdigest()[:10]
    name = f"drillkit_plugin_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        try:
            sys.path.remove(str(path.parent))
        except ValueError:  # pragma: no cover
            pass
    return module
