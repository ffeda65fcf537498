"""`webqueue catalog refresh` and `status` as an operator runs them: a CSV catalog indexed with
a progress report without the service running, current at once; the service then serves it;
a second refresh while it runs; a file that cannot be read fails naming it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.test_cli import CLI, Service

CSV = """video_id,title,categories,duration_sec,published_at
abc123,Night of the Living Dead,Horror|Public Domain,5760,2024-02-01T20:00:00Z
def456,Häxan,Horror;Documentary,6300,2024-03-01T20:00:00Z
,Lost Reel,Horror,4000,
ghi789,Reel Seven,Trailers,0,
"""


def run(*args: str, data_dir: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "catalog", *args, "--data-dir", str(data_dir), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refresh_from_a_csv_file_then_serve_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(CSV, encoding="utf-8")
    config = tmp_path / "webqueue.toml"
    config.write_text(
        f'[catalog]\nsource = "file"\nfile = "{catalog}"\nrefresh_on_start = false\n',
        encoding="utf-8",
    )
    first = run("refresh", data_dir=data_dir, config=config)
    assert first.returncode == 0, first.stderr
    assert "from the file catalog.csv" in first.stderr and "4 items" in first.stderr
    assert "completed" in first.stderr and "current snapshot now" in first.stderr
    status = run("status", data_dir=data_dir, config=config)
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("* ") and "completed" in status.stdout

    service = Service(data_dir, "--config", str(config))
    try:
        service.wait_healthy()
        token = subprocess.run(
            [*CLI, "token", "issue", "--role", "viewer", "--data-dir", str(data_dir), "ann"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        found = service.http.get(
            "/api/v1/channels/lobby/catalog/search",
            params={"q": "haxan"},
            headers={"authorization": f"Bearer {token}"},
        ).json()
        assert [i["title"] for i in found["items"]] == ["Häxan"]
        assert found["items"][0]["categories"] == ["Horror", "Documentary"]
        again = run("refresh", data_dir=data_dir, config=config)  # the service is running
        assert again.returncode == 0, again.stderr
        status = run("status", data_dir=data_dir, config=config)
        assert len(status.stdout.splitlines()) == 2 and "+0 -0 ~0" in status.stdout
    finally:
        assert service.stop() == 0

    catalog.unlink()
    failed = run("refresh", data_dir=data_dir, config=config)
    assert failed.returncode == 1
    assert "cannot read the catalog file" in failed.stderr and "catalog.csv" in failed.stderr
    status = run("status", data_dir=data_dir, config=config)
    assert " failed " in status.stdout.splitlines()[0], status.stdout
    assert "cannot read the catalog file" in status.stdout
