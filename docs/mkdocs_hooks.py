"""mkdocs hooks (mkdocs.yml `hooks:`): the repository's own files in the site, links as on GitHub.

The site's docs_dir is docs/, but its front page is the README and a few pages and
files sit beside what they describe (benchmarks/README.md, figures/, experiments/).
Every page keeps its links relative to where it sits in the repository, so they work
on GitHub as they are. These hooks mount those files into the site at their
repository path (README.md as index.md; nothing is copied into docs/) and rewrite
each link to where its target landed, so `mkdocs build --strict` still checks every
one: a link to a file that is neither a page nor mounted is a warning, hence an error.

The Python API page's reference is generated from the docstrings of
``simulator.__all__``, so it cannot drift from the code.
"""

from __future__ import annotations

import inspect
import posixpath
import re
import sys
from pathlib import Path

from mkdocs.structure.files import File, Files

#: Repository files outside docs/ that the site shows, as globs from the repository root.
MOUNTED_GLOBS = ("README.md", "benchmarks/README.md", "figures/README.md", "figures/*.png",
                 "figures/*.csv", "experiments/*.toml")
#: Where a mounted file lands when not at its own repository path.
RENAMED = {"README.md": "index.md"}
#: The marker on docs/python.md replaced by the generated reference.
API_MARKER = "<!-- reference: simulator.__all__ -->"

# [text](target "title") and ![alt](target); the target has no spaces.
_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
_FENCE = re.compile(r"^(```|~~~)", re.MULTILINE)

_mounted: dict[str, str] = {}  # repository path -> site path


def _repo(config) -> Path:
    return Path(config["docs_dir"]).resolve().parent


def _site_path(repo_path: str) -> str | None:
    """Where the repository file ``repo_path`` is in the site, or None if it is not."""
    if repo_path.startswith("docs/"):
        return repo_path.removeprefix("docs/")
    return _mounted.get(repo_path)


def on_files(files: Files, config) -> Files:
    """Mount the repository files of MOUNTED_GLOBS into the site."""
    repo = _repo(config)
    _mounted.clear()
    for pattern in MOUNTED_GLOBS:
        for path in sorted(repo.glob(pattern)):
            repo_path = path.relative_to(repo).as_posix()
            site_path = RENAMED.get(repo_path, repo_path)
            _mounted[repo_path] = site_path
            files.append(File.generated(config, site_path, abs_src_path=str(path)))
    return files


def _rewrite(markdown: str, page_repo: str, page_site: str) -> str:
    """Point each relative link of a page at repository path ``page_repo`` to its site path."""
    def one(match: re.Match) -> str:
        target = match.group(2)
        if "://" in target or target.startswith(("#", "/", "mailto:")):
            return match.group(0)
        path, hash_, fragment = target.partition("#")
        site = _site_path(posixpath.normpath(posixpath.join(posixpath.dirname(page_repo), path)))
        if site is None:  # left as written: mkdocs reports it
            return match.group(0)
        new = posixpath.relpath(site, posixpath.dirname(page_site) or ".") + hash_ + fragment
        return match.group(1) + new + match.group(3)

    # links inside fenced code blocks are code, not links: rewrite the text between fences
    parts = re.split(r"(^(?:```|~~~)[^\n]*\n.*?^(?:```|~~~)[ \t]*$)", markdown, flags=re.MULTILINE | re.DOTALL)
    return "".join(part if _FENCE.match(part) else _LINK.sub(one, part) for part in parts)


class _Source(str):
    """An annotation kept as the source text (``from __future__ import annotations``), unquoted."""

    def __repr__(self) -> str:
        return str(self)


def _signature(name: str, function) -> str:
    """``simulator.name(...)``, one parameter a line when it would not fit on one."""
    signature = inspect.signature(function)
    parameters = [p.replace(annotation=_Source(p.annotation)) if isinstance(p.annotation, str) else p
                  for p in signature.parameters.values()]
    returns = signature.return_annotation
    signature = signature.replace(parameters=parameters,
                                  return_annotation=_Source(returns) if isinstance(returns, str) else returns)
    text = f"simulator.{name}{signature}"
    if len(text) <= 88:
        return text
    ret = "" if signature.return_annotation is inspect.Signature.empty else f" -> {signature.return_annotation}"
    lines = "".join(f"    {p},\n" for p in signature.parameters.values())
    return f"simulator.{name}(\n{lines}){ret}"


def _api_reference(repo: Path) -> str:
    """One section per name of ``simulator.__all__``: signature (functions) and docstring."""
    sys.path.insert(0, str(repo))  # document this checkout, not another installed copy
    try:
        import simulator
    finally:
        sys.path.remove(str(repo))
    sections = []
    for name in simulator.__all__:
        obj = getattr(simulator, name)
        doc = inspect.getdoc(obj) or ""
        doc = re.sub(r":(?:class|func|meth|data|attr|mod):`~?([^`]+)`", r"``\1``", doc)
        if inspect.isclass(obj):
            head = f"### `simulator.{name}` (class)"
            body = doc
        else:
            head = f"### `simulator.{name}`"
            body = f"```python\n{_signature(name, obj)}\n```\n\n{doc}"
        sections.append(f"{head}\n\n{body}\n")
    return "\n".join(sections)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Rewrite the page's repository-relative links; fill in the generated API reference."""
    page_site = page.file.src_uri
    page_repo = next((r for r, s in _mounted.items() if s == page_site), "docs/" + page_site)
    markdown = _rewrite(markdown, page_repo, page_site)
    if API_MARKER in markdown:
        markdown = markdown.replace(API_MARKER, _api_reference(_repo(config)))
    return markdown
