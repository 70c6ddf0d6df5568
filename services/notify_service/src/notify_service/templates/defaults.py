"""The zh-CN templates of the case events, the emergency broadcast and grid_service's own
messages (a resident moving between grids).

Loaded by the demo (``make run``) and usable as a starting point in production: the provider
template codes here are placeholders that must be replaced by the ones approved at Alibaba,
Tencent and WeChat (SMS templates and signatures need carrier approval).
"""

from __future__ import annotations

from typing import Any

from notify_service.templates.schemas import TemplateCreate

# key: (title, body, variables, wechat data keys → variable text)
TEXTS: dict[str, tuple[str, str, list[str]]] = {
    "case_accepted": (
        "案件已受理",
        "您反映的问题（编号{case_number}）已受理，我们将尽快处理。",
        ["case_number"],
    ),
    "case_rejected": (
        "案件未予受理",
        "您反映的问题（编号{case_number}）未予受理，详情请在小程序中查看。",
        ["case_number"],
    ),
    "case_assigned": (
        "新的待办案件",
        "案件{case_number}「{title}」已派给您，请在{deadline}前处置。",
        ["case_number", "title", "deadline"],
    ),
    "case_deadline": (
        "办理时限",
        "您反映的问题（编号{case_number}）预计在{deadline}前办结。",
        ["case_number", "deadline"],
    ),
    "case_reminder": (
        "案件催办",
        "案件{case_number}「{title}」将于{deadline}到期，请抓紧处置。",
        ["case_number", "title", "deadline"],
    ),
    "case_overdue": (
        "案件超期",
        "案件{case_number}「{title}」已超过办理时限（{deadline}），请督办。",
        ["case_number", "title", "deadline"],
    ),
    "case_result": (
        "办理结果",
        "您反映的问题（编号{case_number}）已办理：{result}",
        ["case_number", "result"],
    ),
    "case_rating_request": (
        "请评价",
        "您反映的问题（编号{case_number}）已办结，请对办理情况进行评价。",
        ["case_number"],
    ),
    "case_major_incident": (
        "重大事件",
        "重大事件{case_number}「{title}」已上报，请立即关注。",
        ["case_number", "title"],
    ),
    "emergency_warning": ("紧急通知", "{content}", ["content"]),
    # grid_service's own messages: a resident moving between grids (迁出/迁入)
    "resident_transfer_asked": (
        "居民迁移待办",
        "居民{resident}由{from_grid}迁往{to_grid}的申请待您办理。",
        ["resident", "from_grid", "to_grid"],
    ),
    "resident_transfer_decided": (
        "居民迁移结果",
        "居民{resident}由{from_grid}迁往{to_grid}的申请{outcome}。",
        ["resident", "from_grid", "to_grid", "outcome"],
    ),
    # dispute mediation (case_service.mediation): each party told of a session (一条短信调解),
    # the mediators told when a return visit on performance falls due
    "mediation_session": (
        "调解通知",
        "您参与的纠纷调解（编号{case_number}）定于{session_time}在{session_place}进行，请准时参加。",
        ["case_number", "session_time", "session_place"],
    ),
    "mediation_visit_due": (
        "调解回访",
        "纠纷{case_number}调解协议的履行期限已到，请回访当事人的履行情况。",
        ["case_number"],
    ),
    # case_service's mediation notices: a grid that has not filed its screening report, the
    # monthly information report to the committee above, departments told of a 重大 dispute,
    # a mediation past its one-month limit
    "mediation_screening_reminder": (
        "排查报送提醒",
        "{grid_name}{period}的矛盾纠纷排查情况尚未报送（截止{deadline}），请尽快报送；未发现纠纷请报零报告。",
        ["grid_name", "period", "deadline"],
    ),
    "mediation_monthly_report": (
        "矛盾纠纷信息报告",
        "{area_name}{month}矛盾纠纷排查调处信息报告已生成，请查阅。",
        ["area_name", "month"],
    ),
    "mediation_major": (
        "重大矛盾纠纷",
        "重大矛盾纠纷{case_number}（{dispute_type}）：{reason}，请立即会同处置。",
        ["case_number", "dispute_type", "reason"],
    ),
    "mediation_overdue": (
        "调解超期",
        "纠纷{case_number}的调解期限（{deadline}）已过，仍未调结，请督促办理。",
        ["case_number", "deadline"],
    ),
}

SIGN_NAME = "网格通"


def default_templates() -> list[TemplateCreate]:
    out: list[TemplateCreate] = []
    for index, (key, (title, body, variables)) in enumerate(TEXTS.items()):
        aliyun = {
            "template_code": f"SMS_4658{index:05d}",
            "sign_name": SIGN_NAME,
            "params": {v: "{" + v + "}" for v in variables},
        }
        tencent = {
            "template_id": f"18{index:05d}",
            "sign_name": SIGN_NAME,
            "params": ["{" + v + "}" for v in variables],
        }
        wechat_data = {f"thing{i + 1}": "{" + v + "}" for i, v in enumerate(variables)}
        shapes: dict[str, dict[str, Any]] = {
            "sms": {"aliyun": aliyun, "tencent": tencent},
            "wechat_oa": {"wechat": {"template_id": f"oa-{key}", "data": wechat_data, "url": None}},
            "wechat_mp": {
                "wechat": {
                    "template_id": f"mp-{key}",
                    "data": wechat_data,
                    "page": "pages/cases/index",
                }
            },
            "inbox": {},
        }
        for channel, params in shapes.items():
            out.append(
                TemplateCreate.model_validate(
                    {
                        "key": key,
                        "channel": channel,
                        "locale": "zh-CN",
                        "title": title,
                        "body": body,
                        "variables": variables,
                        "provider_params": params,
                    }
                )
            )
    return out
