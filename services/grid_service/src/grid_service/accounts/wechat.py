"""WeChat mini-program login: exchange the ``wx.login()`` code via ``jscode2session``."""

from __future__ import annotations

from dataclasses import dataclass

from grid_service.config import Settings
from shared.http import ServiceClient
from shared.i18n import Text
from shared.logging import get_logger
from shared.problem import AppError, UpstreamError

log = get_logger(__name__)


@dataclass(frozen=True)
class WeChatSession:
    openid: str
    unionid: str | None
    # session_key is deliberately not kept: we do not decrypt mini-program data yet


class WeChatError(AppError):
    status = 400
    code = "wechat_error"
    title = Text("微信登录被拒绝", "WeChat refused the login")


#: errcode → (status, our code, message); the codes WeChat documents for jscode2session.
ERRORS: dict[int, tuple[int, str, Text]] = {
    40029: (
        400,
        "wechat_code_invalid",
        Text("登录凭证（js_code）无效", "The login code is invalid (js_code无效)"),
    ),
    40163: (400, "wechat_code_used", Text("登录凭证已被使用", "The login code was already used")),
    45011: (
        429,
        "wechat_rate_limited",
        Text(
            "微信限制了该用户的调用频率，请一分钟后再试",
            "WeChat rate-limits this user; try again in a minute",
        ),
    ),
    40226: (
        403,
        "wechat_user_blocked",
        Text(
            "微信将该用户标为高风险等级用户", "WeChat flags this user as high-risk (高风险等级用户)"
        ),
    ),
    -1: (503, "wechat_busy", Text("微信系统繁忙，请重试", "WeChat is busy (系统繁忙); try again")),
}


class WeChatClient:
    def __init__(self, settings: Settings, client: ServiceClient | None = None) -> None:
        self.appid = settings.wechat_appid
        self.secret = settings.wechat_secret
        # no retries: a login code is single-use
        self.http = client or ServiceClient(
            settings.wechat_api_base,
            name="wechat",
            timeout=settings.http_timeout_seconds,
            retries=0,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def code_to_session(self, code: str) -> WeChatSession:
        response = await self.http.get(
            "/sns/jscode2session",
            params={
                "appid": self.appid,
                "secret": self.secret,
                "js_code": code,
                "grant_type": "authorization_code",
            },
            retry=False,
        )
        try:
            body = response.json()
        except ValueError as exc:
            raise UpstreamError(
                Text("微信返回的内容不是 JSON", "WeChat answered something that is not JSON")
            ) from exc
        errcode = int(body.get("errcode") or 0)
        if errcode == 0 and body.get("openid"):
            return WeChatSession(openid=str(body["openid"]), unionid=body.get("unionid"))
        log.warning("wechat_login_refused", errcode=errcode)
        status, code_name, message = ERRORS.get(
            errcode,
            (
                502,
                "wechat_error",
                Text(
                    f"微信拒绝了登录（errcode {errcode}）",
                    f"WeChat refused the login (errcode {errcode})",
                ),
            ),
        )
        headers = {"Retry-After": "60" if errcode == 45011 else "1"} if status in (429, 503) else {}
        raise WeChatError(
            message,
            code=code_name,
            status=status,
            headers=headers,
            extra={"wechat_errcode": errcode},
        )
