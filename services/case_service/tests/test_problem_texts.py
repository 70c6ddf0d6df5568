"""Every problem of case_service has its title in zh-CN and English."""

from conftest import DISPATCHER_C1, RESIDENT, Api

from shared.testing import assert_problem_texts


def test_every_problem_class_has_both_titles() -> None:
    classes = assert_problem_texts("case_service")
    assert all(c.__module__.startswith("case_service") for c in classes)


async def test_case_problems_are_chinese_first_and_english_on_request(api: Api) -> None:
    missing = await api.client.post(
        "/api/v1/cases", json={"category_code": "0802"}, headers=api.headers(RESIDENT)
    )
    body = missing.json()
    assert (missing.status_code, body["code"], body["title"]) == (
        422,
        "validation_failed",
        "请求校验未通过",
    )
    assert {"field": "description", "reason": "必填项", "type": "missing"} in body["errors"]
    english = await api.client.post(
        "/api/v1/cases",
        json={"category_code": "0802"},
        headers=api.headers(RESIDENT, **{"Accept-Language": "en-US,en;q=0.9"}),
    )
    assert {"field": "description", "reason": "Field required", "type": "missing"} in (
        english.json()["errors"]
    )
    unknown = "/api/v1/cases/6b0c6f3e-3f55-4e55-9a43-1a1f4b8f0a11"
    zh = (await api.get(DISPATCHER_C1, unknown)).json()
    assert (zh["code"], zh["title"], zh["detail"]) == ("case_not_found", "未找到", "没有这个案件")
    en = (
        await api.client.get(
            unknown, headers=api.headers(DISPATCHER_C1, **{"Accept-Language": "en"})
        )
    ).json()
    assert (en["code"], en["title"], en["detail"]) == (
        "case_not_found",
        "Not found",
        "No such case",
    )
    case = await api.report(RESIDENT)
    illegal = await api.act(DISPATCHER_C1, case["id"], "resolve", expect=409, result="x")
    assert illegal.json()["detail"].startswith("案件处于 reported 状态")
