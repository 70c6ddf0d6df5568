"""Delivery receipts as each provider pushes them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AliyunSmsReport(BaseModel):
    """One item of Alibaba Cloud's ``SmsReport`` push (a JSON array of these)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "phone_number": "13812345678",
                "send_time": "2026-11-23 10:00:01",
                "report_time": "2026-11-23 10:00:05",
                "success": True,
                "err_code": "DELIVERED",
                "err_msg": "用户接收成功",
                "sms_size": "1",
                "biz_id": "932702304080415357^0",
                "out_id": "0b7f3c1e-5b8e-4f3a-9b1a-1c2d3e4f5a6b",
            }
        },
    )

    phone_number: str
    success: bool
    biz_id: str = Field(min_length=1, max_length=100)
    out_id: str | None = None
    err_code: str = ""
    err_msg: str | None = None
    report_time: str | None = Field(None, examples=["2026-11-23 10:00:05"])
    send_time: str | None = None


class TencentSmsStatus(BaseModel):
    """One item of Tencent Cloud's SMS status callback (a JSON array of these)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "user_receive_time": "2026-11-23 10:00:05",
                "nationcode": "86",
                "mobile": "13812345678",
                "report_status": "SUCCESS",
                "errmsg": "DELIVRD",
                "description": "用户短信送达成功",
                "sid": "2028:f825e6b16e23f73f4123",
            }
        },
    )

    sid: str = Field(min_length=1, max_length=100)
    mobile: str
    nationcode: str | None = None
    report_status: str = Field(examples=["SUCCESS", "FAIL"])
    errmsg: str = Field("", examples=["DELIVRD"])
    description: str | None = None
    user_receive_time: str | None = None


class ReceiptAnswer(BaseModel):
    accepted: int = Field(description="receipts stored (repeats are not counted)")
    duplicates: int = Field(description="receipts seen before")


class AliyunAnswer(ReceiptAnswer):
    """Alibaba treats the push as received when ``code`` is 0."""

    code: int = 0
    msg: str = "成功"


class TencentAnswer(ReceiptAnswer):
    """Tencent treats the callback as received when ``result`` is 0."""

    result: int = 0
    errmsg: str = "OK"
