from conftest import DISPATCHER_C1, RESIDENT, Api


async def test_report_and_read(api: Api) -> None:
    case = await api.report()
    assert case["status"] == "reported"
    r = await api.get(DISPATCHER_C1, f"/api/v1/cases/{case['id']}")
    assert r.status_code == 200, r.text
    r = await api.get(RESIDENT, "/api/v1/cases")
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == 1
