"""The benchmark harness's own logic (bench/run.py, bench/city.py, bench/wrk.py), in seconds:
targets and the table, the JSON, wrk's output, and the generated city's determinism and shape
at a tiny scale. The benchmarks themselves run with `make bench`, never here."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from shapely.ops import unary_union

from bench import city as citymod
from bench import run as harness
from bench import wrk
from grid_service.areas.geometry import parse_boundary

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
CATEGORIES = [
    citymod.Category(
        citymod.uuid.UUID(int=i + 1),
        code,
        f"类别{code}",
        "report",
        "locality",
        "promised",
        "normal",
    )
    for i, code in enumerate(["0501", "0601", "0802", "0203", "1001"])
]


def results(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "intake": {
            "connections": 32,
            "ratio": 0.5,
            "ceiling": {"rps": 1000.0},
            "max": {"rps": 500.0, "p99_ms": 300.0, "wrk_cpu_share": 0.05},
            "half": {"rps": 249.0, "offered_rps": 250.0, "p50_ms": 20.0, "p99_ms": 120.0},
            "rss_bytes": {"case_service": 200 * harness.MB, "grid_service": 350 * harness.MB},
        },
        "list": {
            "cases": 1_000_000,
            "queries": [
                {"query": "a", "p50_ms": 2.0, "p95_ms": 4.0},
                {"query": "b", "p50_ms": 9.0, "p95_ms": 61.0},
            ],
        },
        "timer": {
            "due": 1000,
            "ratio": 1.1,
            "steps": [
                {"open_cases": 10_000, "scan_p50_ms": 10.0},
                {"open_cases": 1_000_000, "scan_p50_ms": 11.0},
            ],
        },
        "broadcast": {"recipients": 100_000, "messages_per_second": 2500.0, "seconds": 40.0},
        "stats": {"error": "RuntimeError: stats_bench exited 1"},
    }
    base.update(overrides)
    return base


def test_targets_are_read_and_checked() -> None:
    assert harness.check(0.5, ">= 0.4") is True
    assert harness.check(0.39, ">= 0.4") is False
    assert harness.check(99.9, "< 100") is True
    assert harness.check(100, "< 100") is False
    assert harness.check(2, "<= 2") is True
    assert harness.check(None, "< 1") is None
    assert harness.check(5, "") is None
    with pytest.raises(ValueError, match="unreadable"):
        harness.check(1, "about 3")


def test_evaluate_marks_each_target_and_each_failed_benchmark() -> None:
    figures = {f.name: f for f in harness.evaluate(results())}
    assert figures["intake / ceiling"].passed is True
    assert figures["intake at half the maximum: p99"].passed is False  # 120 ms
    assert figures["peak RSS case_service (intake load)"].passed is True
    assert figures["peak RSS grid_service (intake load)"].value == 350.0
    assert figures["peak RSS grid_service (intake load)"].passed is False
    worst = figures["case list p95, worst of 2 queries"]
    assert (worst.value, worst.passed) == (61.0, False)
    assert worst.note.startswith("b;")
    assert figures["timer scan growth 10,000 → 1,000,000 open cases"].passed is True
    assert figures["broadcast to 100,000 recipients"].passed is True
    failed = figures["stats benchmark"]
    assert failed.value is None
    assert failed.passed is None
    assert "exited 1" in failed.note
    # a benchmark not run is simply absent
    assert not any(f.bench == "locate" for f in figures.values())


def test_intake_rows_include_cpu_target_and_actions() -> None:
    intake = dict(results()["intake"])  # type: ignore[call-overload]
    intake["cpu_ms_per_intake"] = {"case_service": 2.5, "grid_service": 1.8}
    intake["actions"] = {
        "aps": 120.0,
        "ratio": 0.12,
        "connections": 16,
        "p99_ms": 80.0,
        "case_cpu_ms_per_action": 6.5,
    }
    figures = {f.name: f for f in harness.evaluate(results(intake=intake))}
    assert figures["CPU per intake: case_service"].passed is True  # <= 3 ms
    assert figures["CPU per intake: grid_service"].passed is None  # shown, no target
    assert figures["actions: accept/dispatch/claim/resolve/verify"].value == 120.0
    assert figures["actions / ceiling"].value == 0.12
    assert figures["CPU per action: case_service"].value == 6.5
    intake["cpu_ms_per_intake"] = {"case_service": 13.0}
    figures = {f.name: f for f in harness.evaluate(results(intake=intake))}
    assert figures["CPU per intake: case_service"].passed is False


def test_intake_rows_show_postgres_and_the_whole_machine_beside_the_ceiling() -> None:
    intake = dict(results()["intake"])  # type: ignore[call-overload]
    intake["ceiling"] = {"rps": 1000.0, "cpu_ms_per_request": {"machine": 0.45, "ceiling": 0.2}}
    intake["cpu_ms_per_intake"] = {"case_service": 4.0, "postgres": 2.1, "machine": 9.5}
    figures = {f.name: f for f in harness.evaluate(results(intake=intake))}
    assert figures["CPU per intake: postgres"].value == 2.1
    assert figures["CPU per intake: postgres"].passed is None
    assert "PostgreSQL backends" in figures["CPU per intake: postgres"].note
    assert figures["CPU per intake: machine"].value == 9.5
    assert "every core" in figures["CPU per intake: machine"].note
    assert figures["CPU per request: ceiling, whole machine"].value == 0.45
    # an older result without the ceiling's counters has no such row
    plain = {f.name for f in harness.evaluate(results())}
    assert "CPU per request: ceiling, whole machine" not in plain


def test_table_and_json(tmp_path: Path) -> None:
    figures = harness.evaluate(results())
    table = harness.render(figures)
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["figure", "value", "target", "result"]
    assert any("intake / ceiling" in line and "pass" in line for line in lines)
    assert any("case list p95" in line and "FAIL" in line and "< 50 ms" in line for line in lines)
    assert any("stats benchmark" in line and "error" in line for line in lines)
    payload = harness.report(results(), {"duration_s": 12.0, "quick": True})
    assert payload["summary"] == {"targets": 8, "passed": 5, "failed": 3, "errors": 1}
    out = tmp_path / "bench" / "results.json"
    harness.write_json(out, payload)
    read = json.loads(out.read_text())
    assert read["quick"] is True
    assert read["figures"][0]["name"] == "ceiling: minimal FastAPI + asyncpg insert"
    assert {"bench", "name", "value", "unit", "target", "passed", "note"} <= set(read["figures"][0])
    md = harness.markdown(read).splitlines()
    assert md[0].startswith("Quick run of")
    assert any(
        line.startswith("| intake / ceiling | 0.5 ratio | >= 0.4 ratio | pass |") for line in md
    )
    assert any(line.startswith("| stats benchmark | — |  | error |") for line in md)


def test_stats_bench_table_is_parsed() -> None:
    output = """seeding 100,000 cases in one district
endpoint                                              p50      p95      max  (ms, 5 runs)
indicators: district, 30 days                        12.5     20.1     22.0
indicators: district, whole year (1M cases)         301.0    480.2    499.9
series: by month, year                               40.0     41.0     42.0
"""
    rows = harness.parse_stats(output)
    assert [r["endpoint"] for r in rows] == [
        "indicators: district, 30 days",
        "indicators: district, whole year (1M cases)",
        "series: by month, year",
    ]
    assert rows[1]["p95_ms"] == 480.2


def test_wrk_output_is_parsed() -> None:
    out = (
        "Running 5s test @ http://127.0.0.1:1\nBENCHJSON "
        '{"requests":1000,"duration_us":5000000,"bytes":1,"errors_connect":0,"errors_read":0,'
        '"errors_write":0,"errors_status":10,"errors_timeout":2,"p50_us":1500,"p90_us":3000,'
        '"p99_us":9000,"max_us":12000,"mean_us":1800.5}\n'
    )
    r = wrk.parse(out)
    assert (r["ok"], r["errors"], r["rps"]) == (990, 12, 198.0)
    assert (r["p50_ms"], r["p99_ms"]) == (1.5, 9.0)
    with pytest.raises(RuntimeError, match="BENCHJSON"):
        wrk.parse("wrk: connection refused")


def test_city_is_deterministic_and_shaped() -> None:
    shape = citymod.Shape.tiny()
    one, two = citymod.generate(3, shape), citymod.generate(3, shape)
    assert [(a.id, a.path, a.ring) for a in one.areas] == [
        (a.id, a.path, a.ring) for a in two.areas
    ]
    assert [a.id for a in citymod.generate(4, shape).areas] != [a.id for a in one.areas]
    counts = {
        lvl: len(one.level(lvl)) for lvl in ("city", "district", "street", "community", "grid")
    }
    assert counts == {"city": 1, "district": 2, "street": 4, "community": 8, "grid": 32}
    assert len({a.code for a in one.areas}) == len(one.areas)
    assert all(a.path.endswith(a.code) and a.path.count(".") == a.depth for a in one.areas)
    assert set(one.grid_worker) == {g.path for g in one.grids}
    assert len(one.departments) == 2 * len(citymod.DEPARTMENT_KINDS) + len(citymod.CITY_DEPARTMENTS)


def test_city_grids_are_valid_and_tile_their_community() -> None:
    city = citymod.generate(3, citymod.Shape.tiny())
    for community in city.level("community"):
        grids = [parse_boundary(g.boundary) for g in city.grids if g.parent_id == community.id]
        outline = parse_boundary(community.boundary)
        union = unary_union(grids)
        assert union.symmetric_difference(outline).area < 1e-12  # no gap
        assert abs(sum(g.area for g in grids) - outline.area) < 1e-12  # no overlap
    # the issue's city: 300 streets shared out over 16 districts, 30,000 grids
    full = citymod.Shape.full()
    assert sum(citymod.split(full.streets, citymod.DISTRICT_WEIGHTS)) == 300
    assert full.streets * full.communities_per_street * full.grids_per_community == 30_000


def test_households_and_cases_are_deterministic_and_consistent() -> None:
    city = citymod.generate(3, citymod.Shape.tiny())
    households = list(citymod.iter_households(city, NOW))
    assert len(households) == sum(g.household_count or 0 for g in city.grids)
    assert households == list(citymod.iter_households(city, NOW))
    cases = list(citymod.iter_cases(city, CATEGORIES, 500, NOW, per_day=100))
    assert cases == list(citymod.iter_cases(city, CATEGORIES, 500, NOW, per_day=100))
    assert len(cases) == 500
    assert len({c[0] for c in cases}) == 500
    col = {name: i for i, name in enumerate(citymod.CASE_COLUMNS)}
    assert all(len(c) == len(citymod.CASE_COLUMNS) for c in cases)
    grids = {g.path: parse_boundary(g.boundary) for g in city.grids}
    from shapely.geometry import Point

    created = [c[col["created_at"]] for c in cases]
    assert created == sorted(created)
    assert created[-1] <= NOW
    assert (NOW - created[0]).days <= 5  # 500 cases at 100 a day
    statuses = {c[col["status"]] for c in cases}
    assert "closed" in statuses
    assert statuses & citymod.OPEN
    for c in cases:
        point = Point(c[col["lng"]], c[col["lat"]])
        assert grids[c[col["area_path"]]].contains(point)
        if c[col["status"]] == "closed":
            assert c[col["closed_at"]] is not None
            assert c[col["closed_at"]] <= NOW
        if c[col["assignee_account_ids"]]:
            assert c[col["assignee_account_ids"]] == [city.grid_worker[c[col["area_path"]]]]


def scale_run(replicas: int, rps: float, case_ms: float) -> dict[str, object]:
    return {
        "replicas": replicas,
        "connections": 32,
        "rps": rps,
        "p99_ms": 900.0,
        "cpu_ms_per_intake": {
            "case_service": case_ms,
            "grid_service": 2.0,
            "nginx": 0.5,
            "pgbouncer": 0.4,
            "postgres": 3.0,
            "postgres_server": 3.5,
        },
        "cores": {"case_service": 1.0, "postgres": 0.25, "postgres_server": 0.3, "machine": 1.9},
    }


def test_scale_rows_give_each_replica_count_the_ratio_cpu_and_postgres() -> None:
    scale = {"cpus": 2, "ratio": 1.4, "runs": [scale_run(1, 50.0, 14.0), scale_run(2, 70.0, 15.5)]}
    figures = {f.name: f for f in harness.evaluate(results(scale=scale))}
    one = figures["intake, 1 case_service replica behind the gateway"]
    two = figures["intake, 2 case_service replicas behind the gateway"]
    assert (one.value, two.value) == (50.0, 70.0)
    assert "machine 1.90 cores busy" in two.note
    ratio = figures["intake 2 replicas / 1 replica"]
    assert (ratio.value, ratio.unit) == (1.4, "ratio")
    assert "2 cores" in ratio.note
    assert figures["CPU per intake: case_service, 2 case_service replicas"].value == 15.5
    assert (
        "summed over its processes"
        in figures["CPU per intake: case_service, 1 case_service replica"].note
    )
    pg = figures["PostgreSQL CPU during intake, 2 case_service replicas"]
    assert (pg.value, pg.unit) == (0.25, "cores")
    assert "3.0 ms per intake" in pg.note
    # the order of the table: intake's rows, then scale's, then the others
    names = [f.bench for f in harness.evaluate(results(scale=scale))]
    assert names.index("scale") > names.index("intake")
    assert names.index("scale") < names.index("list")
    # without PostgreSQL visible on the machine there is no PostgreSQL row, and a failed scale
    # run is one error row
    blind = scale_run(1, 50.0, 14.0)
    blind["cores"] = {"machine": 1.0}
    figures = {f.name: f for f in harness.evaluate(results(scale={"ratio": None, "runs": [blind]}))}
    assert not any(name.startswith("PostgreSQL") for name in figures)
    assert "intake 2 replicas / 1 replica" not in figures
    failed = harness.evaluate(results(scale={"error": "RuntimeError: nginx is not installed"}))
    assert [f.note for f in failed if f.bench == "scale"] == [
        "RuntimeError: nginx is not installed"
    ]


def test_runner_runs_the_scale_step_with_its_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--only scale` calls bench/scale_bench.py's measure with the run's scale (its result is
    the step's result, not an error row)."""
    import asyncio

    from bench import scale_bench

    seen: dict[str, object] = {}

    async def fake(**kwargs: object) -> dict[str, object]:
        seen.update(kwargs)
        return {"cpus": 2, "ratio": 1.5, "runs": [scale_run(1, 40.0, 14.0)]}

    monkeypatch.setattr(scale_bench, "measure", fake)
    quick = harness.Scale.quick()
    runner = harness.Runner(quick, 7, keep=False, only=["scale"])
    asyncio.run(runner.all())
    assert "error" not in runner.results["scale"], runner.results["scale"]
    assert runner.results["scale"]["ratio"] == 1.5
    assert seen == {"seconds": quick.scale_seconds, "connections": quick.intake_connections}
    assert set(runner.results) == {"scale"}
