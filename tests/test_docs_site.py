"""The documentation site (mkdocs.yml) builds strictly, and the README stays a front page.

A strict build fails on a broken link or anchor and on a page left out of the nav
(mkdocs.yml `validation`); docs/mkdocs_hooks.py mounts the README and the files beside
the code, so their links are checked too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import simulator
from simulator.output.catalogue import format_metric

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SETUP = (
    "```bash\npip install -e . && sim run experiments/quickstart.toml\n```\n\n"
    '```bash\npip install -e ".[test]" && pytest\n```\n'
)


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # material's banner, not a warning of ours
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def _nav_pages(config: Path) -> list[str]:
    return re.findall(r":\s+(\S+\.md)\s*$", config.read_text(), re.MULTILINE)


def _broken_links(site: Path) -> list[str]:
    """Relative href/src of the built pages that point at no file (404.html links from the root)."""
    broken = []
    for page in site.rglob("*.html"):
        if page.name == "404.html":
            continue
        for ref in re.findall(r'(?:href|src)="([^"#?]+)', page.read_text(encoding="utf-8")):
            if "://" in ref or ref.startswith(("mailto:", "data:")):
                continue
            target = (page.parent / ref).resolve()
            if not (target / "index.html" if target.is_dir() else target).exists():
                broken.append(f"{page.relative_to(site)}: {ref}")
    return broken


def test_the_site_builds_strictly_with_every_page_and_link(tmp_path: Path):
    """The real site: no warning, every nav page built, every relative link of the HTML resolves."""
    site = tmp_path / "site"
    result = _build(ROOT / "mkdocs.yml", site)
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    pages = _nav_pages(ROOT / "mkdocs.yml")
    # every page of docs/ is in the nav (a strict build fails otherwise; this names the files)
    assert {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"} <= set(pages)
    for page in pages:  # x.md -> x/index.html, x/README.md -> x/index.html, index.md -> index.html
        folder = page.removesuffix(".md").removesuffix("README").removesuffix("index")
        assert (site / folder / "index.html").is_file(), page
    assert not _broken_links(site)
    # the front page shows the figure, and the generated reference names every public function
    assert 'src="figures/scaling_overview.png"' in (site / "index.html").read_text(encoding="utf-8")
    api = (site / "python" / "index.html").read_text(encoding="utf-8")
    for name in simulator.__all__:
        assert f"simulator.{name}" in api, name


def test_a_broken_link_or_a_page_left_out_of_the_nav_fails_the_build(tmp_path: Path):
    """The guard itself: a copy of the site with one broken link and one orphan page fails, naming both."""
    repo = tmp_path / "repo"
    for name in ("docs", "figures", "experiments"):
        shutil.copytree(ROOT / name, repo / name)
    for name in ("mkdocs.yml", "README.md", "benchmarks/README.md"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, repo / name)
    with (repo / "docs" / "concepts.md").open("a") as page:
        page.write("\nSee [the missing page](no-such-page.md).\n")
    (repo / "docs" / "orphan.md").write_text("# Not in the nav\n")
    result = _build(repo / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stderr and "orphan.md" in result.stderr, result.stderr


def test_the_readme_is_a_front_page_that_starts_with_the_two_setup_commands():
    """At most 10 KB, and the two set-up commands come first, exactly."""
    text = README.read_text(encoding="utf-8")
    assert len(text.encode()) <= 10_000  # issue 20: at most 10 KB; the rest is on the site
    title, rest = text.split("\n\n", 1)
    assert title.startswith("# ") and rest.startswith(SETUP)


def test_the_readme_first_run_table_is_what_the_quickstart_gives():
    """Every value of the README's quickstart table, as `sim run` formats it today."""
    rows = re.findall(r"^│ .+? +│ +(.+?) │ ([a-z_.0-9]+) +│$", README.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(rows) >= 30  # the whole table, not a fragment
    metrics = simulator.run(simulator.load_config(ROOT / "experiments" / "quickstart.toml")).metrics
    assert [(key, format_metric(key, metrics[key])) for _, key in rows] == [(key, value) for value, key in rows]


def test_mechanisms_no_longer_lists_http2_or_deflate_as_not_modelled():
    """Issue 21 item 6: HTTP/2 and 3 and permessage-deflate are modelled (docs/design.md §12)."""
    for paragraph in (ROOT / "docs" / "mechanisms.md").read_text(encoding="utf-8").split("\n\n"):
        flat = " ".join(paragraph.split()).lower()
        if flat.startswith("**not modelled"):
            assert "http/2 multiplexing" not in flat and "permessage-deflate" not in flat, paragraph
