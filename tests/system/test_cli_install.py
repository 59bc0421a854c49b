"""The wheel as an operator installs it: built, installed into a new virtual environment, and
run from another folder (demo with every sample, and `run --once` on a Maildir configuration)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.conftest import DATA_SAMPLES, TESTS

ROOT = TESTS.parent


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh environment holding the wheel. Its dependencies come from
    this environment's site-packages through a .pth line (no network; and not this checkout,
    which that site-packages holds only as an editable finder that a path line does not load)."""
    folder = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    build = subprocess.run(
        [*pip, "wheel", "--no-deps", "-w", str(folder), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    [wheel] = folder.glob("delist_bot-*.whl")
    env = folder / "venv"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    install = subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    site = subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
    )
    (Path(site.strip()) / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return env / "bin"


def _run(bin_folder: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_folder / "delist-bot"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_the_wheel_carries_templates_and_samples(installed_wheel: Path, tmp_path: Path) -> None:
    where = subprocess.check_output(
        [installed_wheel / "python", "-c", "import delist_bot; print(delist_bot.__file__)"],
        cwd=tmp_path,
        text=True,
    )
    assert Path(where).is_relative_to(installed_wheel.parent)  # not this checkout
    listed = _run(installed_wheel, "templates", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "built-in  replies/review.it.txt" in listed.stdout
    assert str(ROOT) not in listed.stdout


def test_demo_from_another_folder_runs_every_sample(installed_wheel: Path, tmp_path: Path) -> None:
    result = _run(installed_wheel, "demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    samples = sorted(p.name for p in DATA_SAMPLES.glob("*.eml"))
    assert f"Seeded {len(samples)} sample requests" in result.stdout
    for name in samples:
        assert name in result.stdout
    assert "quarantined" not in result.stdout
    assert (tmp_path / "data" / "demo" / "store.json").exists()


def test_init_then_run_once_from_another_folder(installed_wheel: Path, tmp_path: Path) -> None:
    made = _run(installed_wheel, "init", "--local", "site", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    config = tmp_path / "site" / "delist-bot.toml"
    inbox = tmp_path / "site" / "mail" / "new"
    for sample in DATA_SAMPLES.glob("*.eml"):
        (inbox / sample.name).write_bytes(sample.read_bytes())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    checked = _run(installed_wheel, "config", "check", "--config", str(config), cwd=elsewhere)
    assert checked.returncode == 0, checked.stderr
    result = _run(installed_wheel, "run", "--once", "--config", str(config), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("processed 9 message(s); sent 9,")
    replies = list((tmp_path / "site" / "outbox").glob("*.eml"))
    assert len(replies) == 9  # 7 replies and 2 reviewer notifications; the 2 automatic ignored
    assert all(b"TemplateNotFound" not in p.read_bytes() for p in replies)


pytestmark = pytest.mark.system
