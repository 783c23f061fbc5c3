"""The repository explains itself: every path a document or a module names outside docs/ exists."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TOP = "apps|core|config|tests|bench|docs|docker|nginx|requirements|bin"
# A path inside the repository as prose names it: from a top-level folder, down to a file or folder.
NAMED = re.compile(rf"(?<![\w./-])((?:{TOP})/[\w./-]*[\w/])")
LINK = re.compile(r"\]\(([^)#\s]+)")


def _files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [
        ROOT / name
        for name in listed.stdout.split()
        if not name.startswith("docs/")
        and name.endswith((".py", ".md", ".toml", ".yml", ".conf", "Makefile", "Procfile", ".example"))
        and "/migrations/" not in name
    ]


# What the code writes (ignored by git): named as outputs, not as files of the repository.
GENERATED = ("bench/results/",)


def test_every_path_named_outside_docs_exists() -> None:
    missing = []
    for file in _files():
        text = file.read_text(errors="replace")
        named = set(NAMED.findall(text))
        if file.suffix == ".md":
            named |= {link for link in LINK.findall(text) if "://" not in link}
        for path in named:
            if path.startswith(GENERATED):
                continue
            base = file.parent if file.suffix == ".md" and not re.match(rf"(?:{TOP})/", path) else ROOT
            if not (base / path.rstrip(".")).exists():
                missing.append(f"{file.relative_to(ROOT)}: {path}")
    assert not missing, "\n".join(sorted(missing))


def test_the_locks_pin_every_package_with_hashes_above_the_advisory_floors() -> None:
    """requirements/*.txt are pip-compile's output from *.in: each package `==` one version with its
    hashes (what the image, make and CI install), and Django and DRF above the releases with advisories
    that reach this code (docs/security.md)."""
    pins: dict[str, str] = {}
    for lock in ("prod", "dev", "bench"):
        text = (ROOT / "requirements" / f"{lock}.txt").read_text()
        entries = re.findall(
            # name==version, an environment marker perhaps (uvloop: not on Windows), then the hashes
            r"^([A-Za-z0-9_.-]+)==([^ \\]+)(?: ; [^\\\n]+)? \\\n"
            r"((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)",
            text,
            re.M,
        )
        requirements = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
        assert len(entries) == len(requirements), lock  # nothing unpinned or without a hash
        if lock == "prod":
            pins = {name.lower(): version for name, version, _ in entries}
    django = tuple(int(p) for p in pins["django"].split("."))
    drf = tuple(int(p) for p in pins["djangorestframework"].split("."))
    assert (5, 2, 12) <= django < (5, 3)
    assert drf >= (3, 17, 2)
