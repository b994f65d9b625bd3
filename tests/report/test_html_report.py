"""`blp simulate --report DIR` and `write_report`: the JSON twin, determinism, a self-contained
page with the headline table and every chart, and clear errors for a directory it can't use."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from blp_client.cli import main
from blp_client.engine import simulate as sim
from blp_client.report import ReportError, prepare_dir, write_report

SMALL = ["--accounts", "300", "--seconds", "600", "--seed", "5"]
SVG = "{http://www.w3.org/2000/svg}"
CHARTS = {
    "price-btc-perp",
    "price-eth-perp",
    "liquidations",
    "blp-assignments",
    "insurance-fund",
    "adl-socialized",
}


def _svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg.*?</svg>", html, flags=re.S)]


def test_compare_report_json_is_the_json_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new" / "dir"  # created, parents included
    assert main(["simulate", *SMALL, "--compare", "--json", "--report", str(out)]) == 0
    captured = capsys.readouterr()
    assert (out / "report.json").read_text() == captured.out
    assert str(out / "report.html") in captured.err
    html = (out / "report.html").read_text()
    svgs = _svgs(html)
    assert {s.get("data-chart") for s in svgs} == CHARTS
    for svg in svgs:
        lines = svg.findall(f".//{SVG}polyline")
        assert lines, svg.get("data-chart")
        for line in lines:
            assert len((line.get("points") or "").split()) == 61  # t = 0, 10, ..., 600
    labels = {p.get("data-label") for p in svgs[0].iter(f"{SVG}polyline")}
    assert labels == {"index", "mark, with BLPs", "mark, without BLPs"}
    assert '<table id="headline">' in html and '<table id="blps">' in html
    assert "<th>with BLPs</th><th>without BLPs</th>" in html
    assert "ADL + socialised loss avoided by the program" in html
    data = json.loads(captured.out)
    liq = f"{data['with_blp']['liquidations']:,}"
    assert f"<tr><td>Liquidations</td><td>{liq}</td>" in html


def test_single_run_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", *SMALL, "--no-blp", "--json", "--report", str(tmp_path)]) == 0
    assert (tmp_path / "report.json").read_text() == capsys.readouterr().out
    html = (tmp_path / "report.html").read_text()
    assert {s.get("data-chart") for s in _svgs(html)} == CHARTS
    assert "<th>without BLPs</th>" in html and "avoided by the program" not in html
    assert '<table id="blps">' not in html  # no BLPs in this run


def test_report_is_byte_identical_for_a_seed(tmp_path: Path) -> None:
    outs = []
    for i, hashseed in enumerate(("1", "2")):
        d = tmp_path / str(i)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "blp_client.cli",
                "simulate",
                *SMALL,
                "--compare",
                "--report",
                str(d),
            ],
            check=True,
            capture_output=True,
            timeout=300,
            env={**os.environ, "PYTHONHASHSEED": hashseed},
        )
        outs.append(((d / "report.html").read_bytes(), (d / "report.json").read_bytes()))
    assert outs[0] == outs[1]


def test_page_is_self_contained(tmp_path: Path) -> None:
    assert main(["simulate", *SMALL, "--report", str(tmp_path)]) == 0
    html = (tmp_path / "report.html").read_text()
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"\b(src|href)=", html)
    assert "url(" not in html
    urls = set(re.findall(r"https?://[^\s\"'<>]+", html))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_write_report_extra_series_and_json_data(tmp_path: Path) -> None:
    result = sim.run(sim.SimulationConfig(accounts=200, seconds=120, seed=2))
    exposure = [(s["t"], s["t"] * 3) for s in result.timeline]
    threshold = [(s["t"], 400) for s in result.timeline]
    path = write_report(
        tmp_path,
        title="demo <run>",
        reports={"with_blp": result.report},
        timelines={"with_blp": result.timeline},
        extra_series={"BLP net exposure": {"net exposure": exposure, "threshold": threshold}},
        json_data={"simulation": result.report, "bot": {"fills": 3}},
    )
    assert path == tmp_path / "report.html"
    html = path.read_text()
    assert "<title>demo &lt;run&gt;</title>" in html
    extra = [s for s in _svgs(html) if s.get("data-chart") == "extra-blp-net-exposure"]
    assert len(extra) == 1
    assert [p.get("data-label") for p in extra[0].iter(f"{SVG}polyline")] == [
        "net exposure",
        "threshold",
    ]
    assert json.loads((tmp_path / "report.json").read_text())["bot"] == {"fills": 3}


def test_unusable_directory_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ReportError, match="not a directory"):
        prepare_dir(blocker)
    with pytest.raises(ReportError, match="cannot create report directory"):
        prepare_dir(blocker / "sub")
    # the CLI says so and stops before simulating
    assert main(["simulate", "--accounts", "100000", "--report", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("blp simulate: cannot create report directory") and "file/sub" in err


def test_flags_read_yes_or_no_and_notes_sit_under_the_headline(tmp_path: Path) -> None:
    """Issue 13: a BLP's `liquidated` flag showed Python's `False`."""
    reports = {
        "with_blp": {
            "liquidations": 3,
            "blps": {"a": {"liquidated": False}, "b": {"liquidated": True}},
        },
    }
    html = write_report(
        tmp_path, title="t", reports=reports, timelines={"with_blp": []}, notes=("Why: this.",)
    ).read_text()
    assert "False" not in html and "True" not in html
    assert "<tr><td>a</td>" in html
    rows = dict(re.findall(r"<tr><td>(\w)</td>(?:<td>[^<]*</td>)*?<td>(yes|no)</td></tr>", html))
    assert rows == {"a": "no", "b": "yes"}
    table_end = html.index("</table>")
    assert html.index('<p class="note runs">Why: this.</p>') == table_end + len("</table>\n")


def test_demo_report_says_why_live_and_simulated_differ(tmp_path: Path) -> None:
    from blp_client.demo_view import LIVE_VS_SIMULATED, write_html

    run = {"report": {"liquidations": 1, "adl_plus_socialized": "5"}, "timeline": []}
    live = {
        "simulated": {"with_blp": run, "without_blp": run},
        "series": [],
        "live_report": {"liquidations": 2},
        "timeline": [],
    }
    html = write_html(tmp_path, {"summary": 1}, live).read_text()
    assert "<th>demo (live)</th><th>with BLPs</th><th>without BLPs</th>" in html
    from html import escape

    assert f'</table>\n<p class="note runs">{escape(LIVE_VS_SIMULATED)}</p>' in html
    assert "sped-up wall clock" in LIVE_VS_SIMULATED and "passive" in LIVE_VS_SIMULATED
